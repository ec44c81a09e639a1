// The buffers a connection's bytes are read into on their way into a
// tunnel stream: room for the headers, then up to one frame of data. A
// slab goes back to a small free list once its reader has moved on and
// every frame built around its bytes has been sent; one whose frames were
// never sent is left to the garbage collector.

import { MAX_DATA } from "./frame.ts";

/** Free bytes kept in front of each frame's data: the frame header and the
 * websocket header are written there. */
export const SLAB_ROOM = 32;
const SIZE = SLAB_ROOM + MAX_DATA;
/** Free slabs kept for reuse (4 MiB). */
const KEEP = 16;
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
