// Test helpers: a server/agent session pair over a real loopback websocket
// (weft's own framing on TCP), raw websocket peers, and small TCP servers.

import { Session, type SessionOptions } from "../../src/tunnel/session.ts";
import { sessionOn } from "../../src/tunnel/socket.ts";
import { MAX_FRAME } from "../../src/tunnel/frame.ts";
import { WsConn } from "../../src/tunnel/ws_conn.ts";
import { encodeWsFrame, OP } from "../../src/tunnel/ws_frame.ts";
import { ConnTransport } from "../../src/tunnel/ws_transport.ts";

/** The client end of a test websocket: sends any message (text too, and
 * beyond the limit), hands every message it receives to its listeners. */
export class RawPeer {
  readonly ws: WsConn;
  #conn: Deno.Conn;
  #listeners: ((e: { data: Uint8Array }) => void)[] = [];

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.ws = new WsConn(new ConnTransport(conn), {
      role: "client",
      maxMessage: MAX_FRAME,
    });
    this.ws.onMessage = (data) => this.dispatch(data);
  }

  /** Hands a received message to the listeners. */
  dispatch(data: Uint8Array): void {
    for (const l of this.#listeners) l({ data });
  }

  addEventListener(
    _type: "message",
    l: (e: { data: Uint8Array }) => void,
  ): void {
    this.#listeners.push(l);
  }

  /** One message, as a single frame written straight to the connection. */
  send(msg: Uint8Array | string): void {
    const text = typeof msg === "string";
    const b = text ? new TextEncoder().encode(msg) : msg;
    writeAll(this.#conn, encodeWsFrame(text ? OP.text : OP.binary, b, true))
      .catch(() => {});
  }

  close(): void {
    this.ws.destroy("test done");
  }
}

export interface Pair extends AsyncDisposable {
  server: Session;
  agent: Session;
  /** The agent's websocket, to inject raw messages. */
  agentSocket: RawPeer;
}

export interface WsServer extends AsyncDisposable {
  port: number;
  shutdown(): Promise<void>;
}

/** Accepts websockets on loopback; the handler gets each server side (not
 * started). */
export function wsServer(onSocket: (ws: WsConn) => void): WsServer {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const c of l) {
      conns.push(c);
      onSocket(
        new WsConn(new ConnTransport(c), {
          role: "server",
          maxMessage: MAX_FRAME,
        }),
      );
    }
  })().catch(() => {});
  const shutdown = async () => {
    l.close();
    await loop;
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // closed already
      }
    }
  };
  return {
    port: (l.addr as Deno.NetAddr).port,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

/** A raw client peer of `wsServer` (started). */
export async function openWs(port: number): Promise<RawPeer> {
  const p = new RawPeer(
    await Deno.connect({ hostname: "127.0.0.1", port }),
  );
  p.ws.start();
  return p;
}

export async function sessionPair(
  agentOpts: Partial<SessionOptions> = {},
  serverOpts: Partial<SessionOptions> = {},
): Promise<Pair> {
  const got = Promise.withResolvers<Session>();
  const srv = wsServer((ws) =>
    got.resolve(sessionOn(ws, { role: "server", ...serverOpts }))
  );
  const peer = new RawPeer(
    await Deno.connect({ hostname: "127.0.0.1", port: srv.port }),
  );
  const agent = sessionOn(peer.ws, { role: "agent", ...agentOpts });
  // Test listeners see what the agent's session receives, too.
  const own = peer.ws.onMessage;
  peer.ws.onMessage = (data, binary) => {
    own(data, binary);
    peer.dispatch(data);
  };
  const server = await got.promise;
  return {
    server,
    agent,
    agentSocket: peer,
    async [Symbol.asyncDispose]() {
      agent.close("test done");
      server.close("test done");
      await Promise.all([agent.done, server.done]);
      await Promise.all([peer.ws.gone, srv.shutdown()]);
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
