// The API server: one TLS listener on the public port (6443). Deno.serve
// cannot hand over a raw socket for HTTP CONNECT, so a front listener
// (front/) reads each connection's first request head itself: CONNECT goes
// to the injected handler (the tunnel's proxy) with the identity from the
// same authenticator. Requests without a body are answered by the front
// itself (the app's fetch); the others (bodies, websocket upgrades) are
// piped, exactly as sent, to the internal Deno.serve listening on a private
// unix socket. The front bounds connections (timeouts, descriptor budget,
// HTTP/1.1 only).

import type { Identity } from "./auth/mod.ts";
import { type ApiDeps, createApp } from "./app.ts";
import { type FrontLimits, type MessageHead, startFront } from "./front/mod.ts";
import { setListenerNoDelay, trimMalloc } from "../../ffi/mod.ts";
import { Registry } from "./registry.ts";
import { joinHostPort, listenTlsOn } from "../net/mod.ts";
import { type UpgradeRoute, upgradeTarget } from "./upgrade_route.ts";
import { closeQuietly } from "../util/close.ts";

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
  /** Bind address; none, 0.0.0.0 and :: mean every address of both
   * families (see src/net/listen.ts). */
  hostname?: string;
  connect?: ConnectHandler;
  /** GET requests for this path are handed over raw (tunnel websocket). */
  upgrade?: UpgradeRoute;
  /** How long close() lets requests in flight finish (default 5000 ms). */
  shutdownGraceMs?: number;
  /** Connection limits of the front listener (defaults as kube-apiserver's). */
  limits?: Partial<FrontLimits>;
}

export interface ApiServer {
  port: number;
  /** The first listening address ("::" when listening on every address). */
  hostname: string;
  /** Every listening address (two where :: sockets take no IPv4). */
  hostnames: string[];
  /** Stops accepting, ends watches and open connections, waits for them. */
  close(): Promise<void>;
  /** Descriptors, unfinished and open connections of the front listener. */
  stats(): { fds: number; unfinished: number; connections: number };
}

/** The API server could not start. */
export class ApiServerError extends Error {
  override name = "ApiServerError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Thrown when a CONNECT head is unusable. */
export class BadRequestHead extends Error {
  override name = "BadRequestHead";
}

/** The CONNECT target and headers of a first request head. */
function connectHead(head: MessageHead): ConnectHead {
  const headers = new Headers();
  try {
    for (const [name, value] of head.fields) headers.append(name, value);
  } catch (e) {
    throw new BadRequestHead(`malformed header: ${(e as Error).message}`);
  }
  return { target: head.target!, headers };
}

const EMPTY = new Uint8Array(0);

/** A parsed request head as text again (without the blank line). */
function headText(head: MessageHead): string {
  return [
    `${head.method} ${head.target} HTTP/${head.version ?? "1.1"}`,
    ...head.fields.map(([name, value]) => `${name}: ${value}`),
  ].join("\r\n");
}

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** The internal HTTP server on a unix socket in `dir`. If it stops on its
 * own (its accept failed, e.g. out of descriptors), a new one takes over on
 * a fresh socket: a failed accept must not end the API. */
class InternalServer {
  #server: Deno.HttpServer | null = null;
  #generation = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  path = "";

  constructor(
    readonly dir: string,
    readonly handler: Deno.ServeHandler,
    readonly log: (msg: string) => void,
  ) {}

  start(): void {
    const path = `${this.dir}/api-${this.#generation++}.sock`;
    const server = Deno.serve({
      path,
      onListen: () => {},
      onError: (e) => {
        this.log(`api: internal server error: ${(e as Error).message}`);
        return new Response("internal error", { status: 500 });
      },
    }, this.handler);
    this.#server = server;
    this.path = path;
    server.finished.catch((e) => {
      if (this.#stopped || this.#server !== server) return;
      this.log(
        `api: internal server stopped: ${
          (e as Error).message
        }; starting another`,
      );
      this.#restart();
    });
  }

  #restart(): void {
    if (this.#stopped) return;
    try {
      this.start();
    } catch (e) {
      this.log(
        `api: cannot start the internal server: ${(e as Error).message}`,
      );
      this.#retry = setTimeout(() => this.#restart(), 1000);
    }
  }

  connect(): Promise<Deno.Conn> {
    return Deno.connect({ transport: "unix", path: this.path });
  }

  async shutdown(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.#server?.shutdown().catch(() => {});
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
  const internal = new InternalServer(dir, app.fetch, log);
  internal.start();

  const hostname = opts.hostname ?? "";
  const port = opts.port ?? 6443;
  let listener: ReturnType<typeof listenTlsOn>;
  try {
    listener = listenTlsOn(hostname, {
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
      `cannot serve the API on ${joinHostPort(hostname || "::", port)}: ${
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
  const tunnels = new Set<Deno.Conn>();

  const onConnect = async (conn: Deno.Conn, first: MessageHead) => {
    let head: ConnectHead;
    try {
      head = connectHead(first);
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
    const req = new Request("https://connect.weft.invalid/", {
      method: "GET",
      headers: new Headers(head.headers),
    });
    const identity = await opts.authenticate(req);
    tunnels.add(conn);
    try {
      await opts.connect(conn, head, identity);
    } finally {
      tunnels.delete(conn);
    }
  };

  const front = await startFront({
    listener,
    upstream: () => internal.connect(),
    handle: (req) => app.fetch(req),
    route: (head) => {
      if (head.method === "CONNECT") return onConnect;
      const up = opts.upgrade;
      if (up && head.method === "GET" && upgradeTarget(up, head.target)) {
        return (conn, first) => up.upgrade(conn, headText(first), EMPTY);
      }
      return null;
    },
    limits: opts.limits,
    log,
    releaseMemory: () => trimMalloc(),
  });

  const addr = listener.addr as Deno.NetAddr;
  let closing: Promise<void> | null = null;
  return {
    port: addr.port,
    hostname: addr.hostname,
    hostnames: listener.addrs.map((a) => a.hostname),
    stats: () => front.stats(),
    close: () => {
      closing ??= (async () => {
        // Watches end now; requests in flight may finish (up to the grace
        // period); idle keep-alive connections are closed by the internal
        // server; CONNECT tunnels and stragglers are closed last.
        ac.abort();
        await front.stop();
        front.drain();
        const grace = setTimeout(
          () => front.closeAll(),
          opts.shutdownGraceMs ?? 5000,
        );
        try {
          await internal.shutdown();
          for (const c of tunnels) closeQuietly(c);
          // Piped connections end once their upstream has closed and the
          // last response bytes are forwarded.
          await front.drained();
        } finally {
          clearTimeout(grace);
        }
        front.closeAll();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      })();
      return closing;
    },
  };
}
