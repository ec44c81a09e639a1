// One multiplexed stream of a session: a duplex byte pipe with per-stream
// flow control. The receiver buffers what arrives and asks the peer to pause
// above PAUSE_AT buffered bytes and to resume below RESUME_AT; a writer
// waits while the peer has paused it.

import { type Frame, MAX_DATA } from "./frame.ts";
import { StreamError } from "./errors.ts";

export const PAUSE_AT = 2 * 1024 * 1024;
export const RESUME_AT = 256 * 1024;

/** What a stream needs from its session. */
export interface StreamLink {
  send(frame: Frame): void;
  /** Resolves once the socket's send buffer is below its high-water mark. */
  drain(): Promise<void>;
  forget(id: number): void;
}

export class TunnelStream {
  readonly id: number;
  readonly target: string;
  readonly createdAt = Date.now();
  /** Bytes of data this side has sent. */
  sentBytes = 0;
  /** Highest number of received bytes held unread at once. */
  maxBuffered = 0;
  #link: StreamLink;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #eof = false;
  #writeClosed = false;
  #error: StreamError | null = null;
  #readWaiter: (() => void) | null = null;
  #peerPaused = false;
  #resumeWaiters: (() => void)[] = [];
  #sentPause = false;

  constructor(link: StreamLink, id: number, target: string) {
    this.#link = link;
    this.id = id;
    this.target = target;
  }

  /** Received bytes not yet read. */
  get buffered(): number {
    return this.#buffered;
  }

  /** True while the peer has asked this side to stop writing. */
  get paused(): boolean {
    return this.#peerPaused;
  }

  get failed(): StreamError | null {
    return this.#error;
  }

  /** The next received chunk, or null once the peer closed its side. */
  async read(): Promise<Uint8Array | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#eof) return null;
      await new Promise<void>((r) => this.#readWaiter = r);
    }
    const c = this.#chunks.shift()!;
    this.#buffered -= c.length;
    if (this.#sentPause && this.#buffered <= RESUME_AT && !this.#error) {
      this.#sentPause = false;
      this.#link.send({ type: "resume", id: this.id });
    }
    return c;
  }

  /** Sends bytes, waiting while the peer is paused or the socket is full.
   * With `room` (free bytes in front of `data`, whose buffer is then handed
   * over), the first frame is built around the bytes without a copy, and
   * `release` is called once they have been sent (never, if they are not). */
  async write(
    data: Uint8Array,
    room = 0,
    release?: () => void,
  ): Promise<void> {
    for (let off = 0; off < data.length; off += MAX_DATA) {
      while (this.#peerPaused && !this.#error) {
        await new Promise<void>((r) => this.#resumeWaiters.push(r));
      }
      await this.#link.drain();
      if (this.#error) throw this.#error;
      if (this.#writeClosed) throw new StreamError("write after close");
      const chunk = data.subarray(off, off + MAX_DATA);
      this.#link.send({
        type: "data",
        id: this.id,
        data: chunk,
        room: off === 0 ? room : 0,
        release: off === 0 ? release : undefined,
      });
      this.sentBytes += chunk.length;
    }
  }

  /** Ends this side's writing (the peer reads EOF). Idempotent. */
  closeWrite(): void {
    if (this.#writeClosed || this.#error) return;
    this.#writeClosed = true;
    this.#link.send({ type: "close", id: this.id });
    if (this.#eof) this.#link.forget(this.id);
  }

  /** Aborts the stream both ways and tells the peer why. */
  reset(reason: string): void {
    if (this.#error) return;
    this.#link.send({ type: "error", id: this.id, message: reason });
    this.fail(new StreamError(reason));
  }

  // Called by the session.

  /** @internal */
  push(data: Uint8Array): void {
    if (this.#error || this.#eof) return;
    this.#chunks.push(data);
    this.#buffered += data.length;
    if (this.#buffered > this.maxBuffered) this.maxBuffered = this.#buffered;
    if (!this.#sentPause && this.#buffered >= PAUSE_AT) {
      this.#sentPause = true;
      this.#link.send({ type: "pause", id: this.id });
    }
    this.#wakeReader();
  }

  /** @internal The peer closed its side. */
  eof(): void {
    this.#eof = true;
    this.#wakeReader();
    if (this.#writeClosed) this.#link.forget(this.id);
  }

  /** @internal */
  fail(err: StreamError): void {
    if (this.#error) return;
    this.#error = err;
    this.#chunks = [];
    this.#buffered = 0;
    this.#wakeReader();
    this.setPaused(false);
    this.#link.forget(this.id);
  }

  /** @internal */
  setPaused(paused: boolean): void {
    this.#peerPaused = paused;
    if (paused) return;
    const ws = this.#resumeWaiters;
    this.#resumeWaiters = [];
    for (const w of ws) w();
  }

  #wakeReader(): void {
    const w = this.#readWaiter;
    this.#readWaiter = null;
    w?.();
  }
}
