// The front listener: accepts TLS connections on the API port, reads each
// one's first request head itself, hands it to a route that takes over the
// raw connection (CONNECT) or pipes it, head included, to the internal HTTP
// server. It follows the HTTP/1.1 messages of piped connections (without
// changing a byte) to bound them as kube-apiserver's Go server does:
//
// - a request head must arrive whole within headTimeoutMs (Go's
//   ReadHeaderTimeout; kube-apiserver: 32 s), the first one counted from
//   the accept, TLS handshake included;
// - a connection idle between requests is closed after idleTimeoutMs
//   (kube-apiserver: IdleTimeout 90 s); a request in flight (a watch) or a
//   switched protocol (websocket) has no such limit;
// - connections without a complete first head are capped, and all
//   connections share a file descriptor budget below the process's limit
//   (see conn_table.ts); accept failures (EMFILE, ENFILE) shed an idle
//   connection, back off and go on: no client can make the process exit;
// - only HTTP/1.x is spoken (ALPN offers http/1.1; an HTTP/2 preface is
//   answered 505 and closed before anything reaches the internal server).

import { sleep } from "../../supervisor/mod.ts";
import { pump } from "../_pump.ts";
import {
  ConnTable,
  fdBudgetOf,
  openFileLimit,
  type Tracked,
} from "./conn_table.ts";
import {
  type BodyFraming,
  FramingError,
  Http1Framer,
  MAX_HEAD,
  type MessageHead,
  requestBody,
  responseBody,
} from "./http1.ts";

export interface FrontLimits {
  /** A request head must arrive whole within this (default 32 s). */
  headTimeoutMs: number;
  /** A connection idle between requests is closed after this (default 90 s). */
  idleTimeoutMs: number;
  /** Connections without a complete first request head (default 256). */
  maxUnfinished: number;
  /** Descriptors the front may hold (default: from RLIMIT_NOFILE). */
  fdBudget?: number;
  /** Longest request head (default 64 KiB). */
  maxHead: number;
}

export const DEFAULT_LIMITS: FrontLimits = {
  headTimeoutMs: 32_000,
  idleTimeoutMs: 90_000,
  maxUnfinished: 256,
  maxHead: MAX_HEAD,
};

/** Takes over a raw connection; `conn` serves the bytes behind the head first. */
export type RawHandler = (conn: Deno.Conn, head: MessageHead) => Promise<void>;

export interface FrontOptions {
  listener: Deno.Listener<Deno.TlsConn>;
  /** Opens a connection to the internal HTTP server. */
  upstream: () => Promise<Deno.Conn>;
  /** The handler that takes over a connection by its first head, or null to
   * pipe it (called once per connection). */
  route: (head: MessageHead) => RawHandler | null;
  limits?: Partial<FrontLimits>;
  log: (msg: string) => void;
}

export interface Front {
  /** Stops accepting; resolves when the accept loop has ended. */
  stop(): Promise<void>;
  /** Closes every connection now. */
  closeAll(): void;
  /** Resolves when every connection has ended. */
  drained(): Promise<void>;
  /** Descriptors and unfinished connections held now (for tests and logs). */
  stats(): { fds: number; unfinished: number; connections: number };
}

/** Logs the first of a kind of event at once, then at most one line per
 * interval counting the rest (an attack must not flood the log). */
class ThrottledLog {
  #last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    readonly log: (m: string) => void,
    readonly intervalMs = 10_000,
  ) {}

  note(kind: string, msg: string): void {
    const now = performance.now();
    const s = this.#last.get(kind);
    if (s && now - s.at < this.intervalMs) {
      s.suppressed++;
      return;
    }
    const more = s?.suppressed
      ? ` (and ${s.suppressed} more like it in the last ${
        Math.round((now - s.at) / 1000)
      } s)`
      : "";
    this.#last.set(kind, { at: now, suppressed: 0 });
    this.log(`api: ${msg}${more}`);
  }
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** Answers a status with no body and closes (errors ignored). */
async function refuse(conn: Deno.Conn, code: number): Promise<void> {
  const text = `HTTP/1.1 ${code} ${REASONS[code] ?? "Error"}\r\n` +
    `Content-Length: 0\r\nConnection: close\r\n\r\n`;
  await writeAll(conn, new TextEncoder().encode(text)).catch(() => {});
}

/** Passes EOF on; never throws (the connection may be closed already). */
async function halfClose(conn: Deno.Conn): Promise<void> {
  try {
    await conn.closeWrite();
  } catch {
    // closed
  }
}

function isOutOfFds(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === "EMFILE" || code === "ENFILE" ||
    /too many open files/i.test((e as Error).message ?? "");
}

/** The connection with `rest` served first by read(). */
export function withPrefix(conn: Deno.Conn, rest: Uint8Array): Deno.Conn {
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

function peerOf(conn: Deno.Conn): string {
  const a = conn.remoteAddr as Deno.NetAddr;
  return a.hostname.includes(":")
    ? `[${a.hostname}]:${a.port}`
    : `${a.hostname}:${a.port}`;
}

/** One accepted connection: its timers and where its messages are. */
class FrontConn implements Tracked {
  readonly peer: string;
  up: Deno.Conn | null = null;
  closed = false;
  /** Requests whose final response has not ended. */
  inflight = 0;
  requests = 0;
  upgraded = false;
  #methods: string[] = [];
  #interim = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly req: Http1Framer;
  readonly res: Http1Framer;
  /** The first request head, once complete, and its route. */
  first: MessageHead | null = null;
  route: RawHandler | null = null;

  constructor(
    readonly conn: Deno.TlsConn,
    readonly front: FrontInternals,
  ) {
    this.peer = peerOf(conn);
    const maxHead = front.limits.maxHead;
    this.req = new Http1Framer("request", {
      headStart: () => this.#headStart(),
      head: (h) => this.#request(h),
      end: () => this.schedule(),
    }, maxHead);
    this.res = new Http1Framer("response", {
      headStart: () => {},
      head: (h) => this.#response(h),
      end: () => this.#responseEnd(),
    }, maxHead);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.disarm();
    closeQuietly(this.conn);
    if (this.up) closeQuietly(this.up);
    this.front.debug?.(`${this.peer}: closed: ${reason}`);
  }

  /** Closes the connection after `ms` unless re-armed or disarmed. */
  arm(ms: number, why: () => void): void {
    this.disarm();
    this.#timer = setTimeout(why, ms);
  }

  disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  headTimedOut = (): void => {
    this.front.shed.note(
      "head-timeout",
      `closed a connection from ${this.peer}: no complete request head within ${this.front.limits.headTimeoutMs} ms`,
    );
    this.close("head timeout");
  };

  #idleTimedOut = (): void => this.close("idle");

  /** Feeds a framer; a framing error closes the connection. */
  observe(framer: Http1Framer, chunk: Uint8Array): void {
    if (this.closed) return;
    try {
      framer.push(chunk);
    } catch (e) {
      this.front.shed.note(
        "framing",
        `closed a connection from ${this.peer}: ${(e as Error).message}`,
      );
      this.close((e as Error).message);
    }
  }

  #headStart(): void {
    // The first head's deadline runs from the accept.
    if (this.requests > 0) {
      this.arm(this.front.limits.headTimeoutMs, this.headTimedOut);
    }
    this.front.table.setIdle(this, this.inflight === 0);
  }

  #request(h: MessageHead): BodyFraming {
    if (this.requests++ === 0) {
      this.first = h;
      this.front.table.finished(this);
      this.route = this.front.route(h);
      if (this.route) return { kind: "rest" };
    }
    this.inflight++;
    this.#methods.push(h.method!);
    this.disarm();
    this.front.table.setIdle(this, false);
    return requestBody(h);
  }

  #response(h: MessageHead): BodyFraming {
    const status = h.status!;
    this.#interim = status < 200 && status !== 101;
    if (this.#interim) return { kind: "none" };
    const method = this.#methods.shift() ?? "GET";
    const framing = responseBody(h, method);
    if (status === 101 || (method === "CONNECT" && status < 300)) {
      // Another protocol from now on (a websocket): its own keepalive rules.
      this.upgraded = true;
      this.req.stop();
      this.disarm();
      this.front.table.setIdle(this, false);
    }
    return framing;
  }

  #responseEnd(): void {
    if (this.#interim) return;
    this.inflight = Math.max(0, this.inflight - 1);
    this.schedule();
  }

  /** Arms the idle timer when no request is in flight or arriving. */
  schedule(): void {
    if (this.closed || this.upgraded) return this.disarm();
    if (!this.req.atBoundary) return; // a head is arriving: its timer runs
    if (this.inflight > 0) {
      this.disarm();
      this.front.table.setIdle(this, false);
      return;
    }
    this.arm(this.front.limits.idleTimeoutMs, this.#idleTimedOut);
    this.front.table.setIdle(this, true);
  }
}

interface FrontInternals {
  limits: FrontLimits;
  table: ConnTable;
  shed: ThrottledLog;
  route: (head: MessageHead) => RawHandler | null;
  debug?: (msg: string) => void;
}

/** Starts accepting on `opts.listener`. */
export async function startFront(opts: FrontOptions): Promise<Front> {
  const limits: FrontLimits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(opts.limits ?? {})) {
    if (v !== undefined) Object.assign(limits, { [k]: v });
  }
  const shed = new ThrottledLog(opts.log);
  const table = new ConnTable({
    fdBudget: limits.fdBudget ?? fdBudgetOf(await openFileLimit()),
    maxUnfinished: limits.maxUnfinished,
    onShed: (m) => shed.note("shed", m),
  });
  const internals: FrontInternals = {
    limits,
    table,
    shed,
    route: opts.route,
  };
  const conns = new Set<FrontConn>();
  const tasks = new Set<Promise<void>>();
  const stopping = new AbortController();

  const serve = async (fc: FrontConn): Promise<void> => {
    fc.arm(limits.headTimeoutMs, fc.headTimedOut);
    await fc.conn.handshake();
    const read: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    while (!fc.first) {
      const n = await fc.conn.read(buf);
      if (n === null || fc.closed) return;
      const chunk = buf.slice(0, n);
      read.push(chunk);
      try {
        fc.req.push(chunk);
      } catch (e) {
        if (!(e instanceof FramingError)) throw e;
        shed.note(
          "framing",
          `refused a request from ${fc.peer}: ${e.message}`,
        );
        await refuse(fc.conn, e.status);
        return;
      }
    }
    const bytes = concat(read);
    if (fc.route) {
      table.setIdle(fc, false);
      fc.disarm();
      table.reserve(fc, 1); // what the handler dials (best effort)
      const rest = bytes.subarray(fc.req.lastHeadEnd);
      await fc.route(withPrefix(fc.conn, rest), fc.first);
      return;
    }
    if (!table.reserve(fc, 2)) {
      shed.note(
        "shed",
        `refused a request from ${fc.peer}: no descriptors left`,
      );
      await refuse(fc.conn, 503);
      return;
    }
    try {
      fc.up = await opts.upstream();
    } catch (e) {
      shed.note(
        "upstream",
        `cannot reach the internal server: ${(e as Error).message}`,
      );
      if (isOutOfFds(e)) {
        table.shedOne("the process is out of file descriptors");
      }
      await refuse(fc.conn, 503);
      return;
    }
    const up = fc.up;
    if (fc.closed) return;
    await writeAll(up, bytes);
    // The client's EOF is passed on (half-close), so the internal server
    // notices a client that went away and ends its watch streams.
    const c2s = pump(fc.conn, up, (b) => fc.observe(fc.req, b))
      .catch(() => {})
      .then(() => halfClose(up));
    await pump(up, fc.conn, (b) => fc.observe(fc.res, b)).catch(() => {});
    fc.close("done");
    await c2s;
  };

  const start = (conn: Deno.TlsConn) => {
    let fc: FrontConn;
    try {
      fc = new FrontConn(conn, internals);
    } catch {
      closeQuietly(conn); // no peer address: already gone
      return;
    }
    if (!table.admit(fc)) return closeQuietly(conn);
    conns.add(fc);
    const t: Promise<void> = serve(fc)
      .catch((e) => {
        if (!stopping.signal.aborted && !fc.closed) {
          opts.log(`api: connection from ${fc.peer}: ${(e as Error).message}`);
        }
      })
      .finally(() => {
        fc.close("done");
        table.release(fc);
        conns.delete(fc);
        tasks.delete(t);
      })
      .catch(() => {});
    tasks.add(t);
  };

  const accepting = (async () => {
    let backoff = 0;
    while (!stopping.signal.aborted) {
      let conn: Deno.TlsConn;
      try {
        conn = await opts.listener.accept();
        backoff = 0;
      } catch (e) {
        if (
          stopping.signal.aborted || e instanceof Deno.errors.BadResource ||
          e instanceof Deno.errors.Interrupted
        ) return;
        shed.note("accept", `accept failed: ${(e as Error).message}; retrying`);
        if (isOutOfFds(e)) {
          table.shedOne("the process is out of file descriptors");
        }
        backoff = Math.min(backoff ? backoff * 2 : 5, 1000);
        await sleep(backoff, stopping.signal);
        continue;
      }
      start(conn);
    }
  })().catch((e) => opts.log(`api: listener stopped: ${(e as Error).message}`));

  return {
    stop: async () => {
      stopping.abort();
      closeQuietly(opts.listener);
      await accepting;
    },
    closeAll: () => {
      for (const c of conns) c.close("server stopping");
    },
    drained: async () => {
      while (tasks.size > 0) await Promise.allSettled([...tasks]);
    },
    stats: () => ({
      fds: table.used,
      unfinished: table.unfinished,
      connections: conns.size,
    }),
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
