// The agent side of the local CNI socket: runs the plugin operations the
// thin clients (src/cni/client.ts) hand over, with the same skeleton an
// exec'd plugin runs (runPlugin with the request's environment and stdin),
// one operation at a time.
//
// One long-lived process serves every pod, so:
// - operations are serialized (a queue): host-local's lock files, the state
//   files and the netfilter execs of two operations never interleave;
//   network namespace switches are synchronous (ffi withNetns) and never
//   span an await;
// - input is bounded: header and stdin sizes (src/cni/socket.ts), the time
//   to send a request, the requests waiting, the time an operation may run;
// - nothing leaks between requests: each runs with its own environment and
//   stdin; a request from another network namespace, or from another
//   working directory that names a relative path, is handed back to the
//   plugin process (it would resolve differently here);
// - a plugin's failure is its answer (CNI error JSON, exit code 1); no
//   request can end the server;
// - work the answer does not depend on (PluginContext.defer: fsyncs, the
//   kernel's slow teardown of a deleted veth or ifb) runs after the answer
//   is sent and before the next operation starts, so a pod's DEL costs
//   its runtime a round trip, not the kernel's RCU grace periods.

import { closeQuietly } from "../util/close.ts";
import { isPluginName } from "./argv0.ts";
import { type PluginIO, runPlugin, stdinTooLarge } from "./skel.ts";
import { type Peer, procRequest } from "./proc_request.ts";
import type { Deferred } from "./plugin.ts";
import { OPS_LOG } from "./op_record.ts";
import { loadPlugin } from "./registry.ts";
import {
  type CniAck,
  type CniReply,
  type CniRequestHeader,
  cniSocketPath,
  FrameError,
  jsonFrame,
  LAUNCHER_MAGIC,
  MAX_ENV_VARS,
  MAX_HEADER,
  MAX_STDIN,
  netnsId,
  readExact,
  readFrame,
  writeAll,
} from "./socket.ts";

export interface CniServerOptions {
  /** Socket path (default: cniSocketPath of this process's environment). */
  path?: string;
  signal: AbortSignal;
  log?: (msg: string) => void;
  /** Called once the socket accepts connections. */
  ready?: () => void;
  /** Connections waiting to be read or run beyond which new ones are
   * refused (their plugins run in their own process). Default 16: with
   * stdin up to 4 MiB each, at most 64 MiB held for waiting requests. */
  maxWaiting?: number;
  /** Time a client has to send its whole request (default 10 s). */
  readTimeoutMs?: number;
  /** Time an operation may run before its client gets "try again later"
   * and the queue moves on (default 120 s). */
  opTimeoutMs?: number;
  /** Plugins loaded at start (default: flannel, bridge, host-local). */
  preload?: string[];
  /** Called after each served operation's answer was sent; never awaited,
   * its errors are logged and dropped. */
  onServed?: (op: ServedOp) => void | Promise<void>;
}

/** One operation the server ran. */
export interface ServedOp {
  name: string;
  env: Record<string, string>;
  stdin: Uint8Array;
  reply: CniReply;
  /** How long the plugin ran (ms). */
  ms: number;
}

/** The largest stderr kept for an answer (diagnostics, not results). */
const MAX_STDERR = 64 * 1024;

/** Serves the CNI socket until `signal` aborts. */
export async function serveCni(opts: CniServerOptions): Promise<void> {
  const path = opts.path ?? cniSocketPath(Deno.env.toObject());
  const log = opts.log ?? (() => {});
  const { listener, ino } = await listenPrivate(path);
  const ownNs = netnsId();
  const maxWaiting = opts.maxWaiting ?? 16;
  // Logged once each: why requests go back to the plugins, the first one
  // served (so an operator sees whether the fast path is in use).
  const told = new Set<string>();
  const tell = (key: string, msg: string) => {
    if (told.has(key)) return;
    told.add(key);
    log(msg);
  };
  let waiting = 0;
  let tail: Promise<void> = Promise.resolve();
  const inflight = new Set<Promise<void>>();
  const stop = () => closeQuietly(listener);
  opts.signal.addEventListener("abort", stop, { once: true });
  log(`serving CNI operations on ${path}`);
  opts.ready?.();
  // Load the default conflist's plugins now, not on the first pod's ADD.
  for (const name of opts.preload ?? ["flannel", "bridge", "host-local"]) {
    loadPlugin(name).catch(() => {});
  }

  const decline = async (peer: Peer, why: string): Promise<void> => {
    tell(why, `CNI requests from ${why} run in the plugin's own process`);
    await peer.decline(why);
  };

  const handle = async (conn: Deno.UnixConn): Promise<void> => {
    const own = { ns: ownNs, cwd: Deno.cwd() };
    const req = await readRequest(conn, opts.readTimeoutMs ?? 10_000, own);
    if (!req) return;
    try {
      const why = "declined" in req ? req.declined : refusal(req, ownNs);
      if ("declined" in req || why) {
        return void await decline(req.peer, why ?? "");
      }
      const turn = tail.then(() => run(req));
      tail = turn.catch(() => {});
      await turn;
    } finally {
      req.peer.close();
    }
  };

  const run = async (req: Incoming): Promise<void> => {
    // A launcher whose stdin the agent has read cannot run the plugin
    // itself any more: a stopping agent still serves it.
    if (opts.signal.aborted && req.peer.canDecline) {
      return void await req.peer.decline("stopping");
    }
    // The client may have gone (its runtime timed out): then nothing runs.
    if (!await req.peer.accept()) return;
    const t0 = performance.now();
    const deferred: Deferred[] = [];
    const reply = await operate(
      req,
      opts.opTimeoutMs ?? 120_000,
      log,
      (work) => void deferred.push(work),
    );
    const ms = performance.now() - t0;
    await req.peer.answer(reply);
    // The work the answer did not wait for (fsyncs, link teardown) runs
    // now, inside this operation's turn: the next operation starts after.
    await runDeferred(deferred, req, log);
    tell(
      "served",
      `served the first CNI operation (${req.header.name} ${
        req.header.env.CNI_COMMAND ?? ""
      }, exit ${reply.code}, ${ms.toFixed(0)} ms); later ones are not logged`,
    );
    if (opts.onServed) {
      const op = { ...req.header, stdin: req.stdin, reply, ms };
      queueMicrotask(() => {
        Promise.resolve()
          .then(() => opts.onServed!(op))
          .catch((err) => log(`after ${req.header.name}: ${err}`));
      });
    }
  };

  try {
    for await (const conn of listener) {
      if (waiting >= maxWaiting) {
        tell(
          "busy",
          `over ${maxWaiting} CNI requests waiting: the next ones run in their plugin's own process`,
        );
        closeQuietly(conn);
        continue;
      }
      waiting++;
      const p = handle(conn)
        .catch((err) => log(`CNI request: ${(err as Error).message}`))
        .finally(() => {
          waiting--;
          closeQuietly(conn);
          inflight.delete(p);
        });
      inflight.add(p);
    }
  } catch (err) {
    if (!opts.signal.aborted) throw err;
  } finally {
    opts.signal.removeEventListener("abort", stop);
    stop();
    await Promise.allSettled([...inflight]);
    removeIfOurs(path, ino);
  }
}

export interface Request {
  header: CniRequestHeader;
  stdin: Uint8Array;
}

/** Listens on `path` with mode 0600 from the first moment (made under a
 * temporary name, chmod, renamed over any stale socket). */
async function listenPrivate(
  path: string,
): Promise<{ listener: Deno.UnixListener; ino: number | null }> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.remove(tmp).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path: tmp });
  try {
    await Deno.chmod(tmp, 0o600);
    await Deno.rename(tmp, path);
    return { listener, ino: (await Deno.lstat(path)).ino };
  } catch (err) {
    listener.close();
    throw err;
  }
}

/** Removes the socket unless another server has replaced it since. */
function removeIfOurs(path: string, ino: number | null): void {
  try {
    if (Deno.lstatSync(path).ino === ino) Deno.removeSync(path);
  } catch { /* gone already */ }
}

/** A request and the way back to its plugin process. */
type Incoming = Request & { peer: Peer; tooLarge?: boolean };

/** The JSON-framed thin client (src/cni/client.ts) as a Peer. */
class FramedPeer implements Peer {
  readonly canDecline = true;
  constructor(private readonly conn: Deno.UnixConn) {}
  accept(): Promise<boolean> {
    return send(this.conn, { state: "accepted" });
  }
  async decline(why: string): Promise<void> {
    await send(this.conn, { state: "fallback", why });
  }
  answer(reply: CniReply): Promise<void> {
    return sendReply(this.conn, reply);
  }
  close(): void {
    closeQuietly(this.conn);
  }
}

/**
 * Reads one request: the launcher's (LAUNCHER_MAGIC, then /proc) or the
 * thin client's two frames. Null when the client sent nothing.
 */
async function readRequest(
  conn: Deno.UnixConn,
  timeoutMs: number,
  own: { ns: string; cwd: string },
): Promise<Incoming | { declined: string; peer: Peer } | null> {
  const timer = setTimeout(() => closeQuietly(conn), timeoutMs);
  try {
    const first = await readExact(conn, 4);
    if (!first) return null;
    const v = new DataView(first.buffer);
    if (v.getUint32(0, true) === LAUNCHER_MAGIC) {
      return await procRequest(conn, own);
    }
    const len = v.getUint32(0);
    if (len > MAX_HEADER) {
      throw new FrameError(`frame of ${len} bytes exceeds ${MAX_HEADER}`);
    }
    const head = len === 0 ? new Uint8Array(0) : await readExact(conn, len);
    if (!head) throw new FrameError("stream ended before a frame's body");
    const header = parseHeader(new TextDecoder().decode(head));
    const stdin = await readFrame(conn, MAX_STDIN);
    if (!stdin) throw new FrameError("the request has no stdin frame");
    return { header, stdin, peer: new FramedPeer(conn) };
  } finally {
    clearTimeout(timer);
  }
}

/** Validates a request header (hostile input: any JSON at all). */
export function parseHeader(text: string): CniRequestHeader {
  const h = JSON.parse(text) as Partial<CniRequestHeader> | null;
  if (typeof h !== "object" || h === null) {
    throw new FrameError("the request header is not a JSON object");
  }
  if (typeof h.name !== "string" || !isPluginName(h.name)) {
    throw new FrameError(`unknown plugin ${JSON.stringify(h.name)}`);
  }
  if (typeof h.cwd !== "string" || typeof h.ns !== "string") {
    throw new FrameError("the request header lacks cwd or ns");
  }
  const env = h.env as unknown;
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    throw new FrameError("the request's env is not an object");
  }
  const entries = Object.entries(env);
  if (entries.length > MAX_ENV_VARS) {
    throw new FrameError(`the request's env holds over ${MAX_ENV_VARS} vars`);
  }
  const clean: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (typeof v !== "string") {
      throw new FrameError(`env ${k} is not a string`);
    }
    clean[k] = v;
  }
  return { name: h.name, env: clean, cwd: h.cwd, ns: h.ns };
}

/** Why a valid request is handed back to its plugin process, or null. */
function refusal(req: Request, ownNs: string): string | null {
  const h = req.header;
  if (h.ns !== ownNs) return "another network namespace";
  if (h.cwd !== Deno.cwd() && hasRelativePath(req)) {
    return "another working directory with a relative path";
  }
  return null;
}

/** Config keys that name files or directories (subnetFile, dataDir,
 * resolvConf, ...). */
const PATH_KEY = /(dir|file|path|conf)$/i;

/**
 * Whether the request names a relative path, which would resolve against
 * the agent's working directory instead of the plugin's: CNI_NETNS, a
 * CNI_PATH entry, or a string under a path-like key of the config. (A
 * config that does not parse is the plugin's to report, wherever it runs.)
 */
export function hasRelativePath(req: Request): boolean {
  const rel = (p: string) => p !== "" && !p.startsWith("/");
  const env = req.header.env;
  if (rel(env.CNI_NETNS ?? "")) return true;
  if ((env.CNI_PATH ?? "").split(":").some(rel)) return true;
  let conf: unknown;
  try {
    conf = JSON.parse(new TextDecoder().decode(req.stdin));
  } catch {
    return false;
  }
  const walk = (v: unknown, depth: number): boolean => {
    if (depth > 64 || typeof v !== "object" || v === null) return false;
    for (const [k, x] of Object.entries(v)) {
      if (
        typeof x === "string" ? PATH_KEY.test(k) && rel(x) : walk(x, depth + 1)
      ) {
        return true;
      }
    }
    return false;
  };
  return walk(conf, 0);
}

/** Runs an operation's deferred work in order; a failure is logged, the
 * rest still runs (the answer was sent: nothing can change it now). */
async function runDeferred(
  deferred: Deferred[],
  req: Request,
  log: (msg: string) => void,
): Promise<void> {
  for (const work of deferred) {
    try {
      await work();
    } catch (err) {
      log(
        `after ${req.header.name} ${req.header.env.CNI_COMMAND ?? ""} of ${
          req.header.env.CNI_CONTAINERID ?? "?"
        }: ${(err as Error).message}`,
      );
    }
  }
}

async function operate(
  req: Incoming,
  timeoutMs: number,
  log: (msg: string) => void,
  defer: (work: Deferred) => void,
): Promise<CniReply> {
  let stdout = "";
  let stderr = "";
  const io: PluginIO = {
    env: req.header.env,
    readStdin: () =>
      req.tooLarge ? stdinTooLarge() : Promise.resolve(req.stdin),
    stdout: (t) => void (stdout += t),
    stderr: (t) => {
      if (stderr.length < MAX_STDERR) stderr += t.slice(0, MAX_STDERR);
    },
    // Served operations are counted like exec'd ones (the cni-ops task).
    opsLog: OPS_LOG,
    defer,
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const code = await Promise.race([
      runPlugin(req.header.name, io).catch(() => 1),
      timeout,
    ]);
    if (code === "timeout") {
      const cmd = req.header.env.CNI_COMMAND ?? "";
      log(`${req.header.name} ${cmd} ran over ${timeoutMs} ms; moving on`);
      return {
        code: 1,
        stdout: JSON.stringify({
          cniVersion: "1.1.0",
          code: 11,
          msg: `the weft agent's ${req.header.name} ${cmd} ran over ${
            timeoutMs / 1000
          } s; try again`,
        }) + "\n",
        stderr,
      };
    }
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

async function send(conn: Deno.UnixConn, ack: CniAck): Promise<boolean> {
  try {
    await writeAll(conn, jsonFrame(ack));
    return true;
  } catch {
    return false;
  }
}

async function sendReply(conn: Deno.UnixConn, reply: CniReply) {
  try {
    await writeAll(conn, jsonFrame(reply));
  } catch { /* the client went away; its runtime will retry */ }
}
