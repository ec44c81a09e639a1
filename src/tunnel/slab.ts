// The buffers a connection's bytes are read into on their way into a
// tunnel stream (room for the headers, then up to one frame of data), and
// those a large websocket message is received into. A slab goes back to a
// small free list once its reader has moved on and every frame built
// around its bytes has been sent, or once the received data in it has been
// written out; one never let go of is left to the garbage collector.

import { MAX_DATA } from "./frame.ts";

/** Free bytes kept in front of each frame's data: the frame header and the
 * websocket header are written there. */
export const SLAB_ROOM = 32;
const SIZE = SLAB_ROOM + MAX_DATA;
/** Free slabs kept for reuse (2 MiB at most, held for good). */
const KEEP = 8;
const free: Uint8Array[] = [];

export class Slab {
  readonly buf: Uint8Array = free.pop() ?? new Uint8Array(SIZE);
  #holds = 1;

  /** One more user (a frame in flight); the function ends its hold, once. */
  hold(): () => void {
    this.#holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#release();
    };
  }

  /** The reader is done with the slab. */
  drop(): void {
    this.#release();
  }

  #release(): void {
    if (--this.#holds === 0 && free.length < KEEP) free.push(this.buf);
  }
}

/** Received messages at least this large go into a slab. */
const RECEIVE_FROM = 64 * 1024;
const receiving = new WeakMap<ArrayBufferLike, Slab>();

/** A buffer for a received message of `len` bytes: a slab's, when large
 * enough to matter and small enough to fit. */
export function receiveBuffer(len: number): Uint8Array {
  if (len < RECEIVE_FROM || len > SIZE) return new Uint8Array(len);
  const s = new Slab();
  receiving.set(s.buf.buffer, s);
  return s.buf.subarray(0, len);
}

/** The received bytes `b` (or any view of their message) have been used:
 * the slab under them may be reused. No-op for other buffers. */
export function received(b: Uint8Array): void {
  const s = receiving.get(b.buffer);
  if (!s) return;
  receiving.delete(b.buffer);
  s.drop();
}
