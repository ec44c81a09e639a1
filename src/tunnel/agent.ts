// The agent side: one tunnel per server address, each reconnecting with
// backoff (1 s doubling to 30 s, with jitter) for as long as the task runs;
// after a network failure the wait ends early once a TCP probe reaches the
// server again, so a restarted server or a healed link is back in ~1 s.
// A session that ends is dropped without waiting for its close handshake,
// so a hung close never delays the next dial (K3s #13149). Streams the
// server opens are checked by the mode's authorizer and dialled locally
// with a timeout. The websocket is weft's own (ws_dial.ts): TCP_NODELAY,
// TLS trusting the cluster CA only, frames limited before they are read.

import { sleep } from "../util/async.ts";
import type { TaskContext } from "../util/task.ts";
import { createAuthorizer } from "./authorizer.ts";
import { StreamError } from "./errors.ts";
import { MAX_FRAME } from "./frame.ts";
import type { SessionOptions } from "./session.ts";
import { sessionOn } from "./socket.ts";
import { dialWebSocket } from "./ws_dial.ts";
import { HandshakeError } from "./ws_handshake.ts";
import {
  checkMode,
  CONNECT_PATH,
  DEFAULT_NODE_ENDPOINT_PORT,
  type EgressMode,
  NODE_HEADER,
  parseTarget,
} from "./target.ts";

export type TunnelState = "connecting" | "connected" | "waiting";

export interface TunnelAgentOptions {
  /** Server addresses: "https://host:port" or "host:port". */
  servers: string[];
  caPem: string;
  /** The node's bearer token, or a function giving the current one (read
   * at every connect, so a credential renewed by a re-join is used). */
  token: string | (() => string);
  nodeName: string;
  mode: EgressMode;
  podCIDRs: string[];
  clusterCIDRs: string[];
  nodeIPs: string[];
  /** Default 10250. */
  nodeEndpointPort?: number;
  /** Local dial timeout (default 15 s). */
  dialTimeoutMs?: number;
  /** Websocket handshake timeout (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Reconnect backoff bounds (default 1 s and 30 s). */
  backoffMs?: { min: number; max: number };
  /** While backing off after a network failure, how often to check with a
   * TCP connect whether the server is reachable again (default 1 s). */
  probeMs?: number;
  onState?: (server: string, state: TunnelState, why?: string) => void;
  session?: Partial<Omit<SessionOptions, "role" | "accept">>;
}

/** "https://h:p" or "h:p" -> "wss://h:p/v1-weft/connect". */
export function tunnelUrl(server: string): string {
  const u = new URL(
    /^[a-z]+:\/\//i.test(server) ? server : `https://${server}`,
  );
  if (u.protocol !== "https:" && u.protocol !== "wss:") {
    throw new TypeError(`bad server ${JSON.stringify(server)}: want https://`);
  }
  return `wss://${u.host}${CONNECT_PATH}`;
}

async function dialWithTimeout(
  hostname: string,
  port: number,
  ms: number,
): Promise<Deno.Conn> {
  const p = Deno.connect({ hostname, port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.then((c) => c.close(), () => {});
      reject(
        new StreamError(`dial ${hostname}:${port}: timed out after ${ms} ms`),
      );
    }, ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } catch (e) {
    if (e instanceof StreamError) throw e;
    throw new StreamError(`dial ${hostname}:${port}: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits `ms`, but when `probe` is set returns early once a TCP connect to
 * the server succeeds: a server back from a restart or an outage is
 * reached within a probe interval, whatever the backoff has grown to. A
 * server that answers with a refusal (HTTP status) is not probed. */
async function backoff(
  ms: number,
  probe: { host: string; port: number; everyMs: number } | null,
  signal: AbortSignal,
): Promise<void> {
  const end = Date.now() + ms;
  if (!probe) return await sleep(ms, signal);
  while (!signal.aborted && Date.now() < end) {
    await sleep(Math.min(probe.everyMs, end - Date.now()), signal);
    if (signal.aborted || Date.now() >= end) return;
    const up = await dialWithTimeout(probe.host, probe.port, probe.everyMs)
      .then((c) => (c.close(), true), () => false);
    if (up) return;
  }
}

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(u.port || 443),
  };
}

/** Runs the tunnels until `ctx.signal` aborts; ready once one is up. */
export async function runTunnelAgent(
  opts: TunnelAgentOptions,
  ctx: TaskContext,
): Promise<void> {
  if (opts.servers.length === 0) throw new TypeError("no server addresses");
  const mode = checkMode(opts.mode);
  const urls = opts.servers.map(tunnelUrl);
  const port = opts.nodeEndpointPort ?? DEFAULT_NODE_ENDPOINT_PORT;
  const authorize = createAuthorizer({ ...opts, mode, nodeEndpointPort: port });
  const dialMs = opts.dialTimeoutMs ?? 15_000;
  const accept = (target: string) => {
    const to = parseTarget(target);
    const denied = authorize(to);
    if (denied) return Promise.reject(new StreamError(denied));
    return dialWithTimeout(to.host, to.port, dialMs);
  };
  const { min, max } = opts.backoffMs ?? { min: 1_000, max: 30_000 };
  const tokenNow = typeof opts.token === "function"
    ? opts.token
    : () => opts.token as string;
  const headers = () => ({
    Authorization: `Bearer ${tokenNow()}`,
    [NODE_HEADER]: opts.nodeName,
  });
  let ready = false;

  const serve = async (server: string, url: string) => {
    const state = (s: TunnelState, why?: string) =>
      opts.onState?.(server, s, why);
    let delay = min;
    const probe = { ...hostPort(url), everyMs: opts.probeMs ?? 1_000 };
    while (!ctx.signal.aborted) {
      let refused = false;
      state("connecting");
      try {
        const ws = await dialWebSocket(url, {
          caPem: opts.caPem,
          headers: headers(),
          maxMessage: MAX_FRAME,
          timeoutMs: opts.handshakeTimeoutMs ?? 10_000,
          signal: ctx.signal,
        });
        const s = sessionOn(ws, {
          ...opts.session,
          role: "agent",
          accept,
          log: ctx.log,
        });
        delay = min;
        state("connected");
        ctx.log(`tunnel: connected to ${server}`);
        if (!ready) {
          ready = true;
          ctx.ready();
        }
        const stop = () => s.close("agent stopping");
        ctx.signal.addEventListener("abort", stop);
        const why = await s.done;
        ctx.signal.removeEventListener("abort", stop);
        if (ctx.signal.aborted) {
          // Let the close handshake finish before the client goes away
          // (bounded: a hung peer does not hold up the stop).
          const grace = new AbortController();
          await Promise.race([ws.gone, sleep(2_000, grace.signal)]);
          ws.destroy("agent stopping");
          grace.abort(); // its timer must not hold the process open
          break;
        }
        // The ended session's connection goes now, whatever its close does.
        ws.destroy("session ended");
        state("waiting", why);
        ctx.log(`tunnel: ${server}: session ended: ${why}`);
      } catch (e) {
        if (ctx.signal.aborted) break;
        const why = (e as Error).message;
        refused = e instanceof HandshakeError && e.status >= 400;
        state("waiting", why);
        ctx.log(`tunnel: ${server}: ${why}`);
      }
      const jittered = Math.min(delay * (0.8 + Math.random() * 0.4), max);
      await backoff(jittered, refused ? null : probe, ctx.signal);
      delay = Math.min(delay * 2, max);
    }
  };
  await Promise.all(urls.map((u, i) => serve(opts.servers[i], u)));
}
