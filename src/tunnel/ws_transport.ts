// The byte pipes a websocket runs on: a Deno connection (the server side,
// handed over by the API's front listener) and a node:tls socket (the
// agent side, where node:tls's `ca` is the only trust anchor). Both queue
// writes without blocking the caller, report what is queued, and hand what
// they read to one reader: into the reader's own buffer when it offers one
// (the rest of a large message), else into the transport's.

import { closeQuietly } from "../util/close.ts";
import type { TLSSocket } from "node:tls";

/** Who takes what a transport reads. */
export interface Reader {
  /** Where the next read may go directly, or null (then data()). */
  target(): Uint8Array | null;
  /** `n` bytes were read into the last target(). */
  filled(n: number): void;
  /** Bytes read into the transport's buffer (valid during the call only). */
  data(b: Uint8Array): void;
}

export interface Transport {
  /** Queues bytes; never throws (a failure ends the transport). `written`
   * is called once they have been handed over (never if they are not). */
  write(b: Uint8Array, written?: () => void): void;
  /** Bytes queued and not yet handed to the kernel. */
  readonly buffered: number;
  /** Resolves once at most `n` bytes are queued (or the transport ended). */
  whenBelow(n: number): Promise<void>;
  /** Starts reading: everything read goes to `reader`, then `onEnd` is
   * called once (EOF, error or destroy). */
  start(reader: Reader, onEnd: (err?: Error) => void): void;
  /** Closes at once; queued bytes are dropped. */
  destroy(): void;
}

/** A TLS read yields one record (<= 16 KiB); a session holds one buffer. */
const READ_BUF = 64 * 1024;
/** Queued frames smaller than this are joined into one write (one TLS
 * record, one syscall): a stream's close and the next connect go together. */
const JOIN_BELOW = 64 * 1024;

/** A Deno connection; `initial` is read first (bytes behind a request head). */
export class ConnTransport implements Transport {
  #conn: Deno.Conn;
  #initial: Uint8Array;
  #queue: Uint8Array[] = [];
  #done: ((() => void) | undefined)[] = [];
  #queued = 0;
  #writing = false;
  #ended = false;
  #waiters: { n: number; resolve: () => void }[] = [];
  #onEnd: ((err?: Error) => void) | null = null;

  constructor(conn: Deno.Conn, initial: Uint8Array = new Uint8Array(0)) {
    this.#conn = conn;
    this.#initial = initial;
  }

  get buffered(): number {
    return this.#queued;
  }

  write(b: Uint8Array, written?: () => void): void {
    if (this.#ended) return;
    this.#queue.push(b);
    this.#done.push(written);
    this.#queued += b.length;
    if (!this.#writing) this.#pump();
  }

  async #pump(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length && !this.#ended) {
        const [b, done] = this.#take();
        for (let off = 0; off < b.length;) {
          off += await this.#conn.write(b.subarray(off));
        }
        this.#queued -= b.length;
        for (const d of done) d?.();
        this.#wake();
      }
    } catch (e) {
      this.#end(e as Error);
    } finally {
      this.#writing = false;
    }
  }

  /** The next write: one frame, or several small ones joined; with the
   * callbacks of what it holds. */
  #take(): [Uint8Array, ((() => void) | undefined)[]] {
    const q = this.#queue;
    let n = 0;
    let k = 0;
    while (k < q.length && n + q[k].length <= JOIN_BELOW) n += q[k++].length;
    if (k <= 1) return [q.shift()!, this.#done.splice(0, 1)];
    const out = new Uint8Array(n);
    for (let i = 0, at = 0; i < k; i++) {
      out.set(q[i], at);
      at += q[i].length;
    }
    q.splice(0, k);
    return [out, this.#done.splice(0, k)];
  }

  #wake(): void {
    const keep = [];
    for (const w of this.#waiters) {
      if (this.#ended || this.#queued <= w.n) w.resolve();
      else keep.push(w);
    }
    this.#waiters = keep;
  }

  whenBelow(n: number): Promise<void> {
    if (this.#ended || this.#queued <= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  start(reader: Reader, onEnd: (err?: Error) => void): void {
    this.#onEnd = onEnd;
    (async () => {
      if (this.#initial.length) reader.data(this.#initial);
      this.#initial = new Uint8Array(0);
      const buf = new Uint8Array(READ_BUF);
      while (!this.#ended) {
        const into = reader.target();
        const n = await this.#conn.read(into ?? buf);
        if (n === null) break;
        if (into) reader.filled(n);
        else reader.data(buf.subarray(0, n));
      }
      this.#end();
    })().catch((e) => this.#end(e as Error));
  }

  #end(err?: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue = [];
    this.#done = [];
    this.#queued = 0;
    this.#wake();
    closeQuietly(this.#conn);
    this.#onEnd?.(err);
  }

  destroy(): void {
    this.#end();
  }
}

/** Makes `r` the reader of a node:tls socket's bytes (whose `onread` asks
 * `r` where each read goes, then tells it). */
export type Subscribe = (r: Reader) => void;

/** A connected node:tls socket whose reads arrive through `subscribe`
 * (node's `onread`: into the reader's target or one reused buffer, no
 * allocation per read); `initial` is read first. */
export class TlsSocketTransport implements Transport {
  #s: TLSSocket;
  #initial: Uint8Array;
  #subscribe: Subscribe;
  #ended = false;
  #corked = false;

  constructor(s: TLSSocket, subscribe: Subscribe, initial = new Uint8Array(0)) {
    this.#s = s;
    this.#subscribe = subscribe;
    this.#initial = initial;
  }

  get buffered(): number {
    return this.#ended ? 0 : this.#s.writableLength;
  }

  write(b: Uint8Array, written?: () => void): void {
    if (this.#ended) return;
    // Frames written in the same turn leave together.
    if (!this.#corked) {
      this.#corked = true;
      this.#s.cork();
      queueMicrotask(() => {
        this.#corked = false;
        if (!this.#ended) this.#s.uncork();
      });
    }
    if (written) this.#s.write(b, (e) => e ? undefined : written());
    else this.#s.write(b);
  }

  whenBelow(n: number): Promise<void> {
    if (this.#ended || this.#s.writableLength <= n) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!this.#ended && this.#s.writableLength > n) return;
        this.#s.off("drain", check);
        this.#s.off("close", check);
        resolve();
      };
      this.#s.on("drain", check);
      this.#s.on("close", check);
    });
  }

  start(reader: Reader, onEnd: (err?: Error) => void): void {
    let done = false;
    const end = (err?: Error) => {
      if (done) return;
      done = true;
      this.#ended = true;
      this.#s.destroy();
      onEnd(err);
    };
    if (this.#initial.length) reader.data(this.#initial);
    this.#initial = new Uint8Array(0);
    this.#subscribe({
      target: () => done ? null : reader.target(),
      filled: (n) => {
        if (!done) reader.filled(n);
      },
      data: (b) => {
        if (!done) reader.data(b);
      },
    });
    this.#s.on("end", () => end());
    this.#s.on("error", (e: Error) => end(e));
    this.#s.on("close", () => end());
    // It may have ended before the handlers were there.
    if (this.#s.destroyed) end();
  }

  destroy(): void {
    this.#ended = true;
    this.#s.destroy();
  }
}
