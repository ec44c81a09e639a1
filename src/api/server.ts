// The API server: one TLS listener on the public port (6443). Deno.serve
// cannot hand over a raw socket for HTTP CONNECT, so this front listener
// reads each connection's request head itself: CONNECT goes to the injected
// handler (the tunnel's proxy) with the identity from the same
// authenticator; any other connection is piped, head included, to the
// internal Deno.serve listening on a private unix socket.

import type { Identity } from "./auth/mod.ts";
import { type ApiDeps, createApp } from "./app.ts";
import { pump } from "./_pump.ts";
import { setListenerNoDelay } from "../../ffi/mod.ts";
import { Registry } from "./registry.ts";
import { claimsHead, type UpgradeRoute } from "./upgrade_route.ts";

export interface ConnectHead {
  /** The request target, e.g. "10.42.1.5:80". */
  target: string;
  headers: Headers;
}

export type ConnectHandler = (
  conn: Deno.Conn,
  head: ConnectHead,
  identity: Identity | null,
) => Promise<void>;

export interface ApiServerOptions extends Omit<ApiDeps, "signal"> {
  /** PEM serving certificate (chain) and key. */
  cert: string;
  key: string;
  /** Default 6443; 0 picks a free port. */
  port?: number;
  /** Bind address (default 0.0.0.0). */
  hostname?: string;
  connect?: ConnectHandler;
  /** GET requests for this path are handed over raw (tunnel websocket). */
  upgrade?: UpgradeRoute;
  /** How long close() lets requests in flight finish (default 5000 ms). */
  shutdownGraceMs?: number;
}

export interface ApiServer {
  port: number;
  hostname: string;
  /** Stops accepting, ends watches and open connections, waits for them. */
  close(): Promise<void>;
}

/** The API server could not start. */
export class ApiServerError extends Error {
  override name = "ApiServerError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Thrown when a connection's request head is unusable. */
export class BadRequestHead extends Error {
  override name = "BadRequestHead";
}

const MAX_HEAD = 64 * 1024;
const HEAD_TIMEOUT_MS = 30_000;
const CRLFCRLF = [13, 10, 13, 10];

function headEnd(buf: Uint8Array, len: number): number {
  outer: for (let i = 0; i + 3 < len; i++) {
    for (let j = 0; j < 4; j++) if (buf[i + j] !== CRLFCRLF[j]) continue outer;
    return i + 4;
  }
  return -1;
}

/** Reads until the end of the request head (or EOF): returns all bytes read
 * and where the head ends (-1 if it did not end). */
async function readHead(
  conn: Deno.Conn,
  upgrade?: UpgradeRoute,
): Promise<{ bytes: Uint8Array; end: number }> {
  const buf = new Uint8Array(MAX_HEAD);
  let len = 0;
  while (len < MAX_HEAD) {
    const n = await conn.read(buf.subarray(len));
    if (n === null) break;
    len += n;
    // A non-CONNECT request is recognized from its first bytes: no need to
    // wait for the whole head before piping it.
    if (
      len >= 8 && !isConnectPrefix(buf.subarray(0, 8)) &&
      !(upgrade && claimsHead(upgrade, buf.subarray(0, len)))
    ) {
      return { bytes: buf.slice(0, len), end: -1 };
    }
    const end = headEnd(buf, len);
    if (end >= 0) return { bytes: buf.slice(0, len), end };
  }
  return { bytes: buf.slice(0, len), end: -1 };
}

/** The connection with `rest` served first by read() (the handler reads
 * with read(); the other members are the connection's own). */
function withPrefix(conn: Deno.Conn, rest: Uint8Array): Deno.Conn {
  if (rest.length === 0) return conn;
  let pending: Uint8Array | null = rest;
  const read = (buf: Uint8Array): Promise<number | null> => {
    if (!pending) return conn.read(buf);
    const n = Math.min(buf.length, pending.length);
    buf.set(pending.subarray(0, n));
    pending = n < pending.length ? pending.subarray(n) : null;
    return Promise.resolve(n);
  };
  return new Proxy(conn, {
    get(target, key) {
      if (key === "read") return read;
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

function isConnectPrefix(b: Uint8Array): boolean {
  return new TextDecoder().decode(b) === "CONNECT ";
}

function parseConnectHead(text: string): ConnectHead {
  const lines = text.split("\r\n");
  const m = lines[0].match(/^CONNECT (\S+) HTTP\/1\.[01]$/);
  if (!m) {
    throw new BadRequestHead(
      `malformed request line ${JSON.stringify(lines[0])}`,
    );
  }
  const headers = new Headers();
  for (const l of lines.slice(1)) {
    if (l === "") continue;
    const i = l.indexOf(":");
    if (i <= 0) {
      throw new BadRequestHead(`malformed header line ${JSON.stringify(l)}`);
    }
    headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
  }
  return { target: m[1], headers };
}

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}

/** Starts the API over TLS; resolves once listening (and IPAM reconciled). */
export async function startApiServer(
  opts: ApiServerOptions,
): Promise<ApiServer> {
  const log = opts.log ?? (() => {});
  const ac = new AbortController();
  const app = createApp({ ...opts, signal: ac.signal });
  if (opts.ipam) await opts.ipam.reconcile(new Registry(opts.store, opts.ipam));

  const dir = await Deno.makeTempDir({ prefix: "weft-api-" });
  const socketPath = `${dir}/api.sock`;
  const internal = Deno.serve({
    path: socketPath,
    onListen: () => {},
    onError: (e) => {
      log(`api: internal server error: ${(e as Error).message}`);
      return new Response("internal error", { status: 500 });
    },
  }, app.fetch);

  const hostname = opts.hostname ?? "0.0.0.0";
  const port = opts.port ?? 6443;
  let listener: Deno.TlsListener;
  try {
    listener = Deno.listenTls({
      hostname,
      port,
      cert: opts.cert,
      key: opts.key,
      alpnProtocols: ["http/1.1"],
    });
  } catch (e) {
    ac.abort();
    await internal.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new ApiServerError(
      `cannot serve the API on ${hostname}:${port}: ${
        (e as Error).message
      } (is another server using the port? see --https-listen-port / --bind-address)`,
      { cause: e },
    );
  }
  // Deno's TLS connections cannot get TCP_NODELAY; set on the listener,
  // every accepted connection inherits it (no Nagle stall per response).
  const bound = (listener.addr as Deno.NetAddr).port;
  try {
    if (setListenerNoDelay(bound) === 0) {
      log(`api: TCP_NODELAY not set: no listening socket on port ${bound}`);
    }
  } catch (e) {
    log(`api: TCP_NODELAY not set: ${(e as Error).message}`);
  }
  const conns = new Set<Deno.Conn>();
  const tunnels = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();

  const handle = async (conn: Deno.TlsConn) => {
    const upstreams: Deno.Conn[] = [];
    try {
      // A client gets HEAD_TIMEOUT_MS to finish the handshake and send its
      // first bytes; an idle or stuck connection is closed.
      const timer = setTimeout(() => closeQuietly(conn), HEAD_TIMEOUT_MS);
      let head;
      try {
        await conn.handshake();
        head = await readHead(conn, opts.upgrade);
      } finally {
        clearTimeout(timer);
      }
      const { bytes, end } = head;
      if (bytes.length === 0) return;
      if (end >= 0 && isConnectPrefix(bytes.subarray(0, 8))) {
        // Bytes the client sent right behind the head belong to the tunnel.
        await onConnect(
          withPrefix(conn, bytes.slice(end)),
          new TextDecoder().decode(bytes.subarray(0, end - 4)),
        );
        return;
      }
      if (end >= 0 && opts.upgrade && claimsHead(opts.upgrade, bytes)) {
        tunnels.add(conn);
        try {
          const head = new TextDecoder().decode(bytes.subarray(0, end - 4));
          await opts.upgrade.upgrade(conn, head, bytes.slice(end));
        } finally {
          tunnels.delete(conn);
        }
        return;
      }
      const up = await Deno.connect({ transport: "unix", path: socketPath });
      upstreams.push(up);
      conns.add(up);
      let off = 0;
      while (off < bytes.length) off += await up.write(bytes.subarray(off));
      // The client's EOF is passed on (half-close), so the internal server
      // notices a client that went away and ends its watch streams.
      const c2s = pump(conn, up).catch(() => {}).then(() =>
        (up as Deno.UnixConn).closeWrite().catch(() => {})
      );
      await pump(up, conn).catch(() => {});
      closeQuietly(up);
      closeQuietly(conn);
      await c2s;
    } catch (e) {
      if (!ac.signal.aborted) log(`api: connection: ${(e as Error).message}`);
    } finally {
      for (const u of upstreams) {
        conns.delete(u);
        closeQuietly(u);
      }
      conns.delete(conn);
      closeQuietly(conn);
    }
  };

  const onConnect = async (conn: Deno.Conn, headText: string) => {
    let head: ConnectHead;
    try {
      head = parseConnectHead(headText);
    } catch (e) {
      await writeAll(
        conn,
        `HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      throw e;
    }
    if (!opts.connect) {
      await writeAll(
        conn,
        `HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      return;
    }
    // The authenticator reads only the headers; the URL is a placeholder
    // (a malformed CONNECT target must not make building the Request throw).
    const headers = new Headers(head.headers);
    const req = new Request("https://connect.weft.invalid/", {
      method: "GET",
      headers,
    });
    const identity = await opts.authenticate(req);
    tunnels.add(conn);
    try {
      await opts.connect(conn, head, identity);
    } finally {
      tunnels.delete(conn);
    }
  };

  const accept = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      const t = handle(conn);
      tasks.add(t);
      t.finally(() => tasks.delete(t));
    }
  })().catch((e) => {
    if (!ac.signal.aborted) {
      log(`api: listener stopped: ${(e as Error).message}`);
    }
  });

  const addr = listener.addr as Deno.NetAddr;
  let closing: Promise<void> | null = null;
  return {
    port: addr.port,
    hostname: addr.hostname,
    close: () => {
      closing ??= (async () => {
        // Watches end now; requests in flight may finish (up to the grace
        // period); idle keep-alive connections are closed by the internal
        // server; CONNECT tunnels and stragglers are closed last.
        ac.abort();
        closeQuietly(listener);
        await accept;
        const force = () => {
          for (const c of conns) closeQuietly(c);
        };
        const grace = setTimeout(force, opts.shutdownGraceMs ?? 5000);
        try {
          await internal.shutdown();
          for (const c of tunnels) closeQuietly(c);
          // Piped connections end once their upstream has closed and the
          // last response bytes are forwarded.
          await Promise.allSettled([...tasks]);
        } finally {
          clearTimeout(grace);
        }
        force();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      })();
      return closing;
    },
  };
}
