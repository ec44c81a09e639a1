// The front listener: accepts TLS connections on the API port and reads
// every request head itself. The first head may hand the raw connection to
// a route (CONNECT). Requests without a body are answered in process (the
// app's fetch, see respond.ts); requests with a body or a protocol switch
// (websocket) are piped, exactly as sent, to the internal HTTP server over
// a unix socket, and its response is piped back. Connections are bounded as
// kube-apiserver's Go server bounds them:
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
//   answered 505 and closed; nothing reaches the internal server).

import { sleep } from "../../util/async.ts";
import { pump } from "../_pump.ts";
import { ConnReader } from "./conn_reader.ts";
import {
  ConnTable,
  fdBudgetOf,
  openFileLimit,
  type Tracked,
} from "./conn_table.ts";
import {
  field,
  FramingError,
  headEnd,
  Http1Framer,
  MAX_HEAD,
  type MessageHead,
  parseHead,
  requestBody,
  responseBody,
} from "./http1.ts";
import { closeQuietly } from "../../util/close.ts";
import {
  halfClose,
  isOutOfFds,
  peerOf,
  refuse,
  withPrefix,
  writeAll,
} from "./_io.ts";
import { ThrottledLog } from "./_throttled_log.ts";
import {
  requestOf,
  servedInProcess,
  wantsClose,
  writeResponse,
} from "./respond.ts";

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
  /** Answers a request without a body in process (the app's fetch); without
   * it every request is piped. */
  handle?: (req: Request) => Response | Promise<Response>;
  /** Opens a connection to the internal HTTP server. */
  upstream: () => Promise<Deno.Conn>;
  /** The handler that takes over a connection by its first head, or null to
   * pipe it (called once per connection). */
  route: (head: MessageHead) => RawHandler | null;
  limits?: Partial<FrontLimits>;
  log: (msg: string) => void;
  /** Gives freed memory back to the system; called once connections fell
   * well below their peak (native allocations of closed ones). */
  releaseMemory?: () => void;
}

export interface Front {
  /** Stops accepting; resolves when the accept loop has ended. */
  stop(): Promise<void>;
  /** Closes idle connections now and the others after their response. */
  drain(): void;
  /** Closes every connection now. */
  closeAll(): void;
  /** Resolves when every connection has ended. */
  drained(): Promise<void>;
  /** Descriptors and unfinished connections held now (for tests and logs). */
  stats(): { fds: number; unfinished: number; connections: number };
}

/** One accepted connection. */
class FrontConn implements Tracked {
  readonly peer: string;
  readonly reader: ConnReader;
  up: Deno.Conn | null = null;
  upReader: ConnReader | null = null;
  closed = false;
  /** Waiting for a head with nothing of it yet (closable when draining). */
  waiting = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly conn: Deno.TlsConn) {
    this.peer = peerOf(conn);
    this.reader = new ConnReader(conn);
  }

  close(_reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.disarm();
    closeQuietly(this.conn);
    if (this.up) closeQuietly(this.up);
  }

  /** Runs `then` after `ms` unless re-armed or disarmed. */
  arm(ms: number, then: () => void): void {
    this.disarm();
    this.#timer = setTimeout(then, ms);
  }

  disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

const EMPTY = new Uint8Array(0);
/** Connections closed since the peak that make a trim worth it. */
const TRIM_DROP = 256;
const TRIM_DELAY_MS = 2000;

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
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
  const conns = new Set<FrontConn>();
  const tasks = new Set<Promise<void>>();
  const stopping = new AbortController();
  let draining = false;
  let peak = 0;
  let trim: ReturnType<typeof setTimeout> | undefined;
  /** After a drop of many connections, release their memory (once, soon). */
  const afterClose = () => {
    const n = conns.size;
    if (trim || !opts.releaseMemory || peak - n < TRIM_DROP || n > peak / 2) {
      return;
    }
    trim = setTimeout(() => {
      trim = undefined;
      peak = conns.size;
      opts.releaseMemory!();
    }, TRIM_DELAY_MS);
  };

  const headTimedOut = (fc: FrontConn) => () => {
    shed.note(
      "head-timeout",
      `closed a connection from ${fc.peer}: no complete request head within ${limits.headTimeoutMs} ms`,
    );
    fc.close("head timeout");
  };

  /** Reads one request head: it and its bytes, or null at EOF. */
  const readHead = async (fc: FrontConn, first: boolean) => {
    let got: Uint8Array = EMPTY;
    while (true) {
      if (got.length === 0 && !first) {
        if (draining) return null;
        fc.waiting = fc.reader.buffered === 0;
        if (fc.waiting) {
          fc.arm(limits.idleTimeoutMs, () => fc.close("idle"));
          table.setIdle(fc, true);
        }
      }
      const b = await fc.reader.next();
      fc.waiting = false;
      if (b === null || fc.closed) return null;
      const old = got.length;
      got = concat(got, b);
      if (old === 0) {
        // RFC 9112 2.2: empty lines before a request line are ignored.
        let skip = 0;
        while (skip < got.length && (got[skip] === 13 || got[skip] === 10)) {
          skip++;
        }
        got = got.subarray(skip);
        if (got.length === 0) continue;
        if (!first) fc.arm(limits.headTimeoutMs, headTimedOut(fc));
        table.setIdle(fc, true);
      }
      const end = headEnd(got, old - 2);
      if (end < 0) {
        if (got.length >= limits.maxHead) {
          throw new FramingError(
            `the head is longer than ${limits.maxHead} bytes`,
            431,
          );
        }
        continue;
      }
      fc.disarm();
      fc.reader.unread(got.subarray(end));
      const bytes = got.subarray(0, end);
      const text = new TextDecoder().decode(bytes).trimEnd();
      return { head: parseHead(text, "request"), bytes };
    }
  };

  /** Answers a bodyless request in process; true: keep the connection. */
  const inProcess = async (
    fc: FrontConn,
    head: MessageHead,
    close: boolean,
  ): Promise<boolean> => {
    const gone = new AbortController();
    const req = requestOf(head, gone.signal);
    fc.reader.closed().then((eof) => eof && gone.abort());
    let res: Response;
    try {
      res = await opts.handle!(req);
    } catch (e) {
      opts.log(`api: ${head.method} ${head.target}: ${(e as Error).message}`);
      res = new Response("internal error", { status: 500 });
    }
    const done = await writeResponse(fc.conn, res, {
      method: head.method!,
      close,
      gone: gone.signal,
    });
    return done && !gone.signal.aborted;
  };

  /** Opens (once per connection) the connection to the internal server. */
  const upstreamOf = async (fc: FrontConn): Promise<Deno.Conn | null> => {
    if (fc.up) return fc.up;
    if (!table.reserve(fc, 2)) {
      shed.note(
        "shed",
        `refused a request from ${fc.peer}: no descriptors left`,
      );
      await refuse(fc.conn, 503);
      return null;
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
      return null;
    }
    if (fc.closed) closeQuietly(fc.up);
    fc.upReader = new ConnReader(fc.up);
    return fc.up;
  };

  /** Forwards the request body (as framed) to the internal server. */
  const forwardBody = async (
    fc: FrontConn,
    up: Deno.Conn,
    head: MessageHead,
  ) => {
    const framing = requestBody(head);
    if (framing.kind === "none") return true;
    const f = new Http1Framer(
      "request",
      () => ({ kind: "none" }),
      limits.maxHead,
    );
    f.expectBody(framing);
    while (true) {
      const b = await fc.reader.next();
      if (b === null) return false;
      const n = f.pushMessage(b);
      await writeAll(up, b.subarray(0, n));
      if (n < b.length) fc.reader.unread(b.subarray(n));
      if (f.ended) return true;
    }
  };

  /** Pipes one request and its response; true: keep the connection. */
  const piped = async (
    fc: FrontConn,
    head: MessageHead,
    bytes: Uint8Array,
  ): Promise<boolean> => {
    requestBody(head); // refuses ambiguous framing before anything is sent
    const up = await upstreamOf(fc);
    if (!up || fc.closed) return false;
    await writeAll(up, bytes);
    let sent = true;
    const sending = forwardBody(fc, up, head).then(
      (ok) => (sent = ok),
      () => (sent = false),
    );
    let status = 0;
    let closeAfter = false;
    const f = new Http1Framer("response", (h) => {
      status = h.status!;
      if (/\bclose\b/i.test(field(h, "connection") ?? "")) closeAfter = true;
      return responseBody(h, head.method!);
    }, limits.maxHead);
    while (true) {
      const b = await fc.upReader!.next();
      if (b === null) return false; // the internal server closed
      const n = f.pushMessage(b);
      await writeAll(fc.conn, b.subarray(0, n));
      if (n < b.length) fc.upReader!.unread(b.subarray(n));
      if (status === 101) return await switched(fc, up);
      if (f.ended && status >= 200) break;
    }
    await sending;
    return sent && !closeAfter;
  };

  /** After 101 Switching Protocols: raw bytes both ways until either ends. */
  const switched = async (fc: FrontConn, up: Deno.Conn) => {
    table.setIdle(fc, false);
    const early = fc.reader.take();
    if (early.length) await writeAll(up, early);
    const c2s = pump(fc.conn, up).catch(() => {}).then(() => halfClose(up));
    await pump(up, fc.conn).catch(() => {});
    fc.close("done");
    await c2s;
    return false;
  };

  const serve = async (fc: FrontConn): Promise<void> => {
    fc.arm(limits.headTimeoutMs, headTimedOut(fc));
    await fc.conn.handshake();
    for (let first = true; !fc.closed; first = false) {
      let read;
      try {
        read = await readHead(fc, first);
        if (!read) return;
        if (!servedInProcess(read.head) || !opts.handle) {
          requestBody(read.head);
        }
      } catch (e) {
        if (!(e instanceof FramingError)) throw e;
        shed.note("framing", `refused a request from ${fc.peer}: ${e.message}`);
        await refuse(fc.conn, e.status);
        return;
      }
      const { head, bytes } = read;
      table.setIdle(fc, false);
      if (first) {
        table.finished(fc);
        const route = opts.route(head);
        if (route) {
          table.reserve(fc, 1); // what the handler dials (best effort)
          await route(withPrefix(fc.conn, fc.reader.take()), head);
          return;
        }
      }
      const close = wantsClose(head) || draining;
      let keep: boolean;
      if (opts.handle && servedInProcess(head)) {
        try {
          keep = await inProcess(fc, head, close);
        } catch (e) {
          if (!(e instanceof FramingError)) throw e;
          await refuse(fc.conn, e.status);
          return;
        }
      } else {
        keep = await piped(fc, head, bytes);
      }
      if (!keep || close || draining) return;
    }
  };

  const start = (conn: Deno.TlsConn) => {
    let fc: FrontConn;
    try {
      fc = new FrontConn(conn);
    } catch {
      closeQuietly(conn); // no peer address: already gone
      return;
    }
    if (!table.admit(fc)) return closeQuietly(conn);
    conns.add(fc);
    peak = Math.max(peak, conns.size);
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
        afterClose();
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
      clearTimeout(trim);
      closeQuietly(opts.listener);
      await accepting;
    },
    drain: () => {
      draining = true;
      for (const c of conns) if (c.waiting) c.close("server stopping");
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
