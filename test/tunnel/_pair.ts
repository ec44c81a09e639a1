// Test helpers: a server/agent session pair over a real loopback websocket,
// raw websocket peers, and small TCP servers.

import { Session, type SessionOptions } from "../../src/tunnel/session.ts";
import { sessionOn } from "../../src/tunnel/socket.ts";

export interface Pair extends AsyncDisposable {
  server: Session;
  agent: Session;
  /** The agent's websocket, to inject raw messages. */
  agentSocket: WebSocket;
}

/** Serves one websocket on loopback; the handler gets the server side. */
export function wsServer(
  onSocket: (ws: WebSocket) => void,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.addEventListener("open", () => onSocket(socket));
      return response;
    },
  );
}

export function openWs(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws);
    ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
  });
}

export async function sessionPair(
  agentOpts: Partial<SessionOptions> = {},
  serverOpts: Partial<SessionOptions> = {},
): Promise<Pair> {
  const got = Promise.withResolvers<Session>();
  const srv = wsServer((ws) =>
    got.resolve(sessionOn(ws, { role: "server", ...serverOpts }))
  );
  const ws = await openWs(srv.addr.port);
  const agent = sessionOn(ws, { role: "agent", ...agentOpts });
  const server = await got.promise;
  return {
    server,
    agent,
    agentSocket: ws,
    async [Symbol.asyncDispose]() {
      agent.close("test done");
      server.close("test done");
      await Promise.all([agent.done, server.done]);
      await srv.shutdown();
    },
  };
}

/** A TCP server on loopback; each connection goes to `handle`. */
export function tcpServer(
  handle: (conn: Deno.Conn) => Promise<void>,
): { port: number } & AsyncDisposable {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const c of l) {
      conns.add(c);
      const t = handle(c).catch(() => {}).finally(() => {
        conns.delete(c);
        try {
          c.close();
        } catch {
          // closed by the handler
        }
      });
      tasks.add(t);
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      l.close();
      await loop;
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await Promise.allSettled([...tasks]);
    },
  };
}

export async function writeAll(conn: Deno.Conn, b: Uint8Array): Promise<void> {
  for (let off = 0; off < b.length;) off += await conn.write(b.subarray(off));
}

/** Deterministic bytes from a seed (xorshift32). */
export function patternBytes(seed: number, n: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = seed || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer, 0, n);
}

/** Polls `cond` until true; fails after `ms` (a bound, not a speed check). */
export async function waitFor(
  cond: () => boolean,
  what: string,
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
