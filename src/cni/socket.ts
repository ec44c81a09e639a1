// The local CNI socket: where the agent serves plugin operations and how a
// request and its answer are framed. Imported by the thin client on every
// plugin start, so it imports nothing.
//
// A request is two frames, a JSON header ({name, env, cwd, ns}) and the
// plugin's stdin; the agent answers a first frame {state: "accepted"} when
// the operation starts (or {state: "fallback", why} when it will not run it:
// the plugin then runs in its own process) and, when accepted, a second
// frame {code, stdout, stderr}. A frame is a 4-byte big-endian length and
// that many bytes.
//
// The native launcher (src/cni/launcher/) speaks a smaller dialect: it
// sends LAUNCHER_MAGIC and its pid (8 bytes, little-endian); the agent
// reads the environment, argv[0], working directory and network namespace
// from /proc/<pid> and writes the plugin's stdout and stderr to
// /proc/<pid>/fd/1 and 2. It answers one byte: LAUNCHER_FALLBACK (the
// launcher runs weft's plugin itself), LAUNCHER_SEND_STDIN (the launcher
// sends its stdin to its end and shuts down writing; LAUNCHER_ACCEPT
// follows) or LAUNCHER_ACCEPT; after LAUNCHER_ACCEPT one more byte, the
// exit code. A header frame's first byte is 0 (it is at most MAX_HEADER
// long), the magic's is not.

/**
 * The socket's path. /run/flannel is the agent's run dir (subnet.env lives
 * there) and is private to each node where several share a machine (the
 * demo, tests), so a plugin never reaches another node's agent.
 */
export const CNI_SOCKET = "/run/flannel/weft-cni.sock";

/** Overrides CNI_SOCKET for the plugin and the agent alike (tests, bench). */
export const CNI_SOCKET_ENV = "WEFT_CNI_SOCKET";

/** The launcher's first four bytes, "WFT\x01", read as a little-endian u32. */
export const LAUNCHER_MAGIC = 0x01544657;
/** The agent runs the launcher's operation; its exit code follows. */
export const LAUNCHER_ACCEPT = 0x41; // "A"
/** The agent wants the launcher's stdin (to its end); LAUNCHER_ACCEPT
 * follows. */
export const LAUNCHER_SEND_STDIN = 0x53; // "S"
/** The agent will not run it: the launcher execs weft's own plugin. */
export const LAUNCHER_FALLBACK = 0x46; // "F"

/** Arguments the launcher passes to weft's plugin entry when it execs it:
 * run the plugin in this process without asking the agent (it declined),
 * or print "try again" (the agent stopped during the operation). */
export const NO_AGENT_ARG = "--weft-no-agent";
export const AGENT_LOST_ARG = "--weft-agent-lost";

/** The verbs whose network config arrives on stdin (VERSION's does not). */
export const STDIN_COMMANDS: ReadonlySet<string> = new Set([
  "ADD",
  "DEL",
  "CHECK",
  "GC",
  "STATUS",
]);

/** The most environment variables a request may carry. */
export const MAX_ENV_VARS = 4096;

/** The largest network config (with prevResult) a plugin reads from stdin. */
export const MAX_STDIN = 4 * 1024 * 1024;

/** The largest request header (the plugin's environment, mostly). */
export const MAX_HEADER = 256 * 1024;

/** The largest answer frame (result or error JSON plus diagnostics). */
export const MAX_REPLY = 8 * 1024 * 1024;

export function cniSocketPath(env: Record<string, string | undefined>) {
  return env[CNI_SOCKET_ENV] || CNI_SOCKET;
}

/** What the plugin process sends. */
export interface CniRequestHeader {
  /** The plugin's name (argv0). */
  name: string;
  /** The plugin's whole environment (CNI_* and the rest). */
  env: Record<string, string>;
  /** The plugin's working directory. */
  cwd: string;
  /** Its network namespace ("dev:ino" of /proc/self/ns/net): the agent
   * runs only requests from its own (the mount namespace may differ, e.g.
   * under `ip netns exec`; finding the socket at all means seeing the
   * node's /run/flannel). */
  ns: string;
}

export type CniAck = { state: "accepted" } | {
  state: "fallback";
  why: string;
};

/** What the agent answers: what the plugin prints and its exit code. */
export interface CniReply {
  code: number;
  stdout: string;
  stderr: string;
}

/** The network namespace this process runs in, as the header's `ns`. */
export function netnsId(path = "/proc/self/ns/net"): string {
  const st = Deno.statSync(path);
  return `${st.dev}:${st.ino}`;
}

/** `data` as one frame. */
export function frame(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + data.length);
  new DataView(out.buffer).setUint32(0, data.length);
  out.set(data, 4);
  return out;
}

/** A frame holding `value` as JSON. */
export function jsonFrame(value: unknown): Uint8Array {
  return frame(new TextEncoder().encode(JSON.stringify(value)));
}

interface Readable {
  read(p: Uint8Array): Promise<number | null>;
}

/** Thrown for a frame that breaks the protocol (too large, cut short). */
export class FrameError extends Error {
  override name = "FrameError";
}

/** Reads exactly `n` bytes; null on end of stream before the first byte. */
export async function readExact(
  r: Readable,
  n: number,
): Promise<Uint8Array | null> {
  const buf = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await r.read(buf.subarray(off));
    if (got === null) {
      if (off === 0) return null;
      throw new FrameError(`stream ended inside a frame (${off}/${n} bytes)`);
    }
    off += got;
  }
  return buf;
}

/** Reads one frame of at most `max` bytes; null at end of stream. */
export async function readFrame(
  r: Readable,
  max: number,
): Promise<Uint8Array | null> {
  const head = await readExact(r, 4);
  if (!head) return null;
  const len = new DataView(head.buffer).getUint32(0);
  if (len > max) {
    throw new FrameError(`frame of ${len} bytes exceeds ${max}`);
  }
  if (len === 0) return new Uint8Array(0);
  const body = await readExact(r, len);
  if (!body) throw new FrameError("stream ended before a frame's body");
  return body;
}

/** Writes all of `data`. */
export async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}
