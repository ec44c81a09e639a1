// The exec'd plugin as a thin client of the local agent: read the CNI
// environment and stdin (bounded), hand them to the agent over its unix
// socket, print its answer and exit with its code. The agent keeps libnl
// bound and the plugin code compiled, so a pod operation costs a Deno start
// and one round trip. When no agent answers (socket absent, refused, busy,
// another namespace) the plugin runs in this process exactly as it would
// without an agent: ADD and DEL never depend on the agent.
//
// This module is loaded on every plugin start: it imports only the socket
// framing and the sync stdio helpers. The plugin skeleton is the caller's
// to load (`local`), only for the fallback: a literal dynamic import here
// would make Deno load its whole graph (ffi, every plugin) on each start.

import {
  AGENT_LOST_ARG,
  type CniAck,
  type CniReply,
  type CniRequestHeader,
  cniSocketPath,
  frame,
  jsonFrame,
  MAX_HEADER,
  MAX_REPLY,
  MAX_STDIN,
  netnsId,
  NO_AGENT_ARG,
  readFrame,
  STDIN_COMMANDS,
  writeAll,
} from "./socket.ts";
import { readAllSync, writeAllSync } from "../util/sync_io.ts";
import type { PluginIO } from "./skel.ts";

/** What the in-process fallback needs of the skeleton (src/cni/skel.ts). */
export interface LocalPlugin {
  runPlugin(name: string, io: PluginIO): Promise<number>;
  localIO(env: Record<string, string>, stdin: Uint8Array | null): PluginIO;
}

/** How long the agent may take to start the operation (it may be busy
 * with others), and to answer it (it bounds an operation at 120 s). */
const ACK_TIMEOUT_MS = 30_000;
const ANSWER_TIMEOUT_MS = 150_000;

/**
 * Runs plugin `name` as an exec'd CNI plugin, through the agent or (none
 * answers) in this process with the skeleton `local` loads; returns the
 * exit code.
 */
export async function runClient(
  name: string,
  local: () => Promise<LocalPlugin>,
  args: readonly string[] = [],
): Promise<number> {
  const env = Deno.env.toObject();
  const cmd = env.CNI_COMMAND ?? "";
  const stdin = STDIN_COMMANDS.has(cmd)
    ? readAllSync(Deno.stdin, MAX_STDIN)
    : new Uint8Array(0);
  // Exec'd by the native launcher: the agent declined (run it here) or
  // stopped during the operation (its stdin is gone: "try again").
  if (args.includes(AGENT_LOST_ARG)) {
    const lost = agentLost(stdin ?? new Uint8Array(0), "the agent closed");
    writeAllSync(Deno.stdout, new TextEncoder().encode(lost.stdout));
    return lost.code;
  }
  const ask = !args.includes(NO_AGENT_ARG);
  const header = ask && cmd !== "" && stdin ? headerOf(name, env) : null;
  if (header && stdin) {
    const reply = await askAgent(cniSocketPath(env), header, stdin);
    if (reply) {
      const enc = new TextEncoder();
      if (reply.stderr) writeAllSync(Deno.stderr, enc.encode(reply.stderr));
      if (reply.stdout) writeAllSync(Deno.stdout, enc.encode(reply.stdout));
      return reply.code;
    }
  }
  const { runPlugin, localIO } = await local();
  return await runPlugin(name, localIO(env, stdin));
}

/** The request header; null when this process cannot describe itself
 * (working directory removed, no /proc): then it runs the plugin itself. */
function headerOf(
  name: string,
  env: Record<string, string>,
): CniRequestHeader | null {
  try {
    return { name, env, cwd: Deno.cwd(), ns: netnsId() };
  } catch {
    return null;
  }
}

/**
 * Sends one request to the agent at `path`. Null when the agent does not
 * take it (no socket, refused, busy, stopped before starting it): the caller
 * runs the plugin itself. Once the agent has started the operation its
 * answer is final; losing the agent then is a "try again later" CNI error,
 * never a second run.
 */
export async function askAgent(
  path: string,
  header: CniRequestHeader,
  stdin: Uint8Array,
  timeouts = { ackMs: ACK_TIMEOUT_MS, answerMs: ANSWER_TIMEOUT_MS },
): Promise<CniReply | null> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch {
    return null;
  }
  // A hung agent (alive, not answering) is given up on: before it starts
  // the operation the plugin runs itself; after, the answer is "try again
  // later". AbortSignal.timeout, not setTimeout: Deno's first setTimeout
  // costs 5-20 ms (node-compatible timers load), this one well under 1 ms.
  let accepted = false;
  const ack = AbortSignal.timeout(timeouts.ackMs);
  const answer = AbortSignal.timeout(timeouts.answerMs);
  const giveUp = () => {
    try {
      conn.close();
    } catch { /* closed already */ }
  };
  ack.addEventListener("abort", () => accepted || giveUp(), { once: true });
  answer.addEventListener("abort", giveUp, { once: true });
  try {
    const head = jsonFrame(header);
    const body = frame(stdin);
    const out = new Uint8Array(head.length + body.length);
    out.set(head);
    out.set(body, head.length);
    await writeAll(conn, out);
    await conn.closeWrite();
    const first = await readFrame(conn, MAX_HEADER);
    if (!first || (JSON.parse(dec(first)) as CniAck).state !== "accepted") {
      return null;
    }
    accepted = true;
    const reply = await readFrame(conn, MAX_REPLY);
    if (!reply) throw new Error("the agent closed the connection");
    return checkReply(JSON.parse(dec(reply)));
  } catch (err) {
    if (!accepted) return null;
    return agentLost(stdin, err);
  } finally {
    giveUp();
  }
}

function dec(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

function checkReply(v: unknown): CniReply {
  const r = v as Partial<CniReply> | null;
  if (
    typeof r !== "object" || r === null || !Number.isInteger(r.code) ||
    typeof r.stdout !== "string" || typeof r.stderr !== "string"
  ) {
    throw new Error("the agent's answer is malformed");
  }
  return r as CniReply;
}

/** The CNI error (code 11, try again later) for an agent lost mid-operation. */
function agentLost(stdin: Uint8Array, err: unknown): CniReply {
  let cniVersion = "1.1.0";
  try {
    const v = JSON.parse(dec(stdin))?.cniVersion;
    if (typeof v === "string" && /^\d+\.\d+\.\d+$/.test(v)) cniVersion = v;
  } catch { /* keep the current version */ }
  return {
    code: 1,
    stdout: JSON.stringify(
      {
        cniVersion,
        code: 11,
        msg: "the weft agent stopped during the operation; try again",
        details: err instanceof Error ? err.message : String(err),
      },
      null,
      4,
    ) + "\n",
    stderr: "",
  };
}
