// The agent's side of the native launcher (src/cni/launcher/): the launcher
// sends its pid; the operation's environment, plugin name (argv[0]),
// working directory and network namespace are read from /proc/<pid>, the
// launcher sends its stdin over the socket when asked (verbs with a
// config), and the plugin's stdout and stderr are written to
// /proc/<pid>/fd/1 and 2. The launcher blocks on the socket meanwhile, so
// the pid stays its own.
//
// Hostile input, bounded like the framed requests: the pid is a number in
// the kernel's range, /proc reads are size-bounded (environ as a header),
// the variables are counted, stdin is kept up to MAX_STDIN (the rest read
// and dropped) and all of it is read under the server's request timeout.
// Anything that cannot be read or opened before stdin is asked for
// declines the operation (the launcher runs weft's own plugin, which reads
// its stdin itself); after, the operation runs and its error is the answer. Only root reaches the
// socket (0600 in a 0700 dir), and the pid must name a running launcher
// (/proc/<pid>/exe reads back as one) in the agent's network namespace and
// working directory; a pid from another pid namespace is declined.

import { closeQuietly } from "../util/close.ts";
import { concatBytes } from "../util/sync_io.ts";
import { isPluginName, programName } from "./argv0.ts";
import { readLauncher } from "./launcher/mod.ts";
import {
  type CniReply,
  type CniRequestHeader,
  FrameError,
  LAUNCHER_ACCEPT,
  LAUNCHER_FALLBACK,
  LAUNCHER_SEND_STDIN,
  MAX_ENV_VARS,
  MAX_HEADER,
  MAX_STDIN,
  netnsId,
  readExact,
  STDIN_COMMANDS,
  writeAll,
} from "./socket.ts";

/** How a served operation talks back to its plugin process. */
export interface Peer {
  /** Whether declining still lets the plugin run itself (its stdin is
   * unread). */
  readonly canDecline: boolean;
  /** The operation starts; false when the plugin process is gone. */
  accept(): Promise<boolean>;
  /** The plugin runs itself. */
  decline(why: string): Promise<void>;
  /** The operation's result and exit code. */
  answer(reply: CniReply): Promise<void>;
  close(): void;
}

/** A request read from /proc, or why it goes back to the plugin. */
export type ProcRequest =
  | {
    header: CniRequestHeader;
    stdin: Uint8Array;
    /** stdin held more than MAX_STDIN bytes (the plugin's decoding error). */
    tooLarge: boolean;
    peer: Peer;
  }
  | { declined: string; peer: Peer };

const MAX_PID = 4 * 1024 * 1024;
const MAX_CMDLINE = 64 * 1024;
/** A launcher is about a kilobyte; anything far bigger is not one. */
const MAX_LAUNCHER = 64 * 1024;

interface Reader {
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * Reads `r` to its end, keeping at most `max` + 1 bytes (one more tells
 * "too large"); with `drain`, what follows is read and dropped, so that a
 * writer of too much is not left blocked (the caller bounds the time).
 */
async function readBounded(r: Reader, max: number, drain = false) {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let scratch: Uint8Array | null = null;
  for (;;) {
    if (size > max) {
      if (!drain) break;
      scratch ??= new Uint8Array(64 * 1024);
      if (await r.read(scratch) === null) break;
      continue;
    }
    const buf = new Uint8Array(Math.min(256 * 1024, max + 1 - size));
    const n = await r.read(buf);
    if (n === null) break;
    chunks.push(buf.subarray(0, n));
    size += n;
  }
  return concatBytes(chunks, size);
}

async function readProcFile(path: string, max: number): Promise<Uint8Array> {
  using f = await Deno.open(path, { read: true });
  const bytes = await readBounded(f, max);
  if (bytes.length > max) throw new FrameError(`${path} is over ${max} bytes`);
  return bytes;
}

/** NUL-separated KEY=VALUE pairs (/proc/<pid>/environ). */
export function parseEnviron(bytes: Uint8Array): Record<string, string> {
  const env: Record<string, string> = {};
  let count = 0;
  for (const entry of new TextDecoder().decode(bytes).split("\0")) {
    if (entry === "") continue;
    if (++count > MAX_ENV_VARS) {
      throw new FrameError(`the environment holds over ${MAX_ENV_VARS} vars`);
    }
    const eq = entry.indexOf("=");
    if (eq <= 0) continue;
    const key = entry.slice(0, eq);
    if (!Object.hasOwn(env, key)) env[key] = entry.slice(eq + 1);
  }
  return env;
}

class LauncherPeer implements Peer {
  canDecline = true;
  /** The launcher's stdout and stderr, once opened. */
  private readonly files: Deno.FsFile[] = [];
  constructor(private readonly conn: Deno.UnixConn) {}

  /** Opens /proc/<pid>/fd/1 and 2 for the answer; false when it cannot. */
  async openOutputs(dir: string): Promise<boolean> {
    try {
      for (const fd of [1, 2]) {
        this.files.push(
          await Deno.open(`${dir}/fd/${fd}`, { write: true, append: true }),
        );
      }
      return true;
    } catch {
      this.closeFiles();
      return false;
    }
  }

  async #byte(b: number): Promise<boolean> {
    try {
      await writeAll(this.conn, new Uint8Array([b]));
      return true;
    } catch {
      return false;
    }
  }

  #accepted: Promise<boolean> | null = null;

  /** Asks for the launcher's stdin (LAUNCHER_SEND_STDIN). */
  askStdin(): Promise<boolean> {
    return this.#byte(LAUNCHER_SEND_STDIN);
  }

  /** Sends the accept byte once (early, when its stdin was consumed). */
  accept(): Promise<boolean> {
    return this.#accepted ??= this.#byte(LAUNCHER_ACCEPT);
  }

  async decline(): Promise<void> {
    await this.#byte(LAUNCHER_FALLBACK);
  }

  async answer(reply: CniReply): Promise<void> {
    const [out, err] = this.files;
    const enc = new TextEncoder();
    try {
      if (reply.stderr && err) await writeAll(err, enc.encode(reply.stderr));
      if (reply.stdout && out) await writeAll(out, enc.encode(reply.stdout));
    } catch { /* the runtime stopped reading: the exit code still goes */ }
    this.closeFiles();
    await this.#byte(reply.code & 0xff);
  }

  closeFiles(): void {
    for (const f of this.files.splice(0)) closeQuietly(f);
  }

  close(): void {
    this.closeFiles();
    closeQuietly(this.conn);
  }
}

/**
 * Reads a launcher's request (its magic already read from `conn`): the pid,
 * then /proc. `own` is the agent's network namespace and working directory:
 * a plugin elsewhere runs itself.
 */
export async function procRequest(
  conn: Deno.UnixConn,
  own: { ns: string; cwd: string },
): Promise<ProcRequest> {
  const raw = await readExact(conn, 4);
  if (!raw) throw new FrameError("the launcher sent no pid");
  const pid = new DataView(raw.buffer).getUint32(0, true);
  if (pid < 1 || pid > MAX_PID) throw new FrameError(`pid ${pid} is invalid`);
  const dir = `/proc/${pid}`;
  const peer = new LauncherPeer(conn);
  const decline = (why: string): ProcRequest => ({ declined: why, peer });
  // The pid must be a launcher's: a pid from another pid namespace (a
  // runtime in a container, say) names some other process here.
  const exe = await readProcFile(`${dir}/exe`, MAX_LAUNCHER).catch(() => null);
  if (!exe || !readLauncher(exe)) {
    return decline("a process that is no launcher");
  }
  let cmdline: Uint8Array, environ: Uint8Array, cwd: string, ns: string;
  try {
    cmdline = await readProcFile(`${dir}/cmdline`, MAX_CMDLINE);
    environ = await readProcFile(`${dir}/environ`, MAX_HEADER);
    cwd = await Deno.readLink(`${dir}/cwd`);
    ns = netnsId(`${dir}/ns/net`);
  } catch (err) {
    if (err instanceof FrameError) throw err;
    return decline(`a process whose /proc cannot be read`);
  }
  const end = cmdline.indexOf(0);
  const name = programName(
    new TextDecoder().decode(end < 0 ? cmdline : cmdline.subarray(0, end)),
  );
  if (!isPluginName(name)) return decline("a launcher under another name");
  const env = parseEnviron(environ);
  if (ns !== own.ns) return decline("another network namespace");
  if (cwd !== own.cwd) return decline("another working directory");
  if (!await peer.openOutputs(dir)) {
    return decline("a launcher whose stdout or stderr cannot be opened");
  }
  let stdin = new Uint8Array(0);
  if (STDIN_COMMANDS.has(env.CNI_COMMAND ?? "")) {
    // The launcher streams its stdin (to its end, then shuts down writing)
    // and cannot run the plugin itself any more: the agent must answer,
    // and says so at once, so that a launcher waiting in a long queue gives
    // up only after the answer's bound, not the start's.
    peer.canDecline = false;
    try {
      if (!await peer.askStdin()) {
        throw new FrameError("the launcher went away before sending stdin");
      }
      stdin = await readBounded(conn, MAX_STDIN, true);
      await peer.accept();
    } catch (err) {
      // Its stdout and stderr are the runtime's pipes: holding them open
      // would keep the runtime waiting for their end.
      peer.closeFiles();
      throw err;
    }
  }
  return {
    header: { name, env, cwd, ns },
    stdin,
    tooLarge: stdin.length > MAX_STDIN,
    peer,
  };
}
