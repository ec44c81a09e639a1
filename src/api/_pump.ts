// Copies one connection's bytes to another, coalescing what arrives close
// together into one write. The TLS socket of the front listener cannot get
// TCP_NODELAY from Deno, and forwarding many small writes (a response head,
// then body chunks, each ending in a partial segment) would stall on
// Nagle's algorithm against the client's delayed ACKs (~40 ms per response).
//
// Memory: an idle connection (a watch waiting for events) keeps one read
// pending per direction, each holding its buffer. Reads start with a small
// buffer; one that fills it switches to a bulk buffer, and the first small
// read after that drops it again, so idle pumps hold SMALL bytes each.

import { setImmediate } from "node:timers";
import { concatBytes } from "../util/sync_io.ts";

const MAX_BUFFERED = 1 << 20;
const BULK = 16 * 1024;
const SMALL = 1024;
const LARGE = 64 * 1024;

/** Resolves when `src` reaches EOF (or fails) and everything read is written.
 * `observe` sees every chunk read, in order, before it is written (it must
 * not throw). */
export async function pump(
  src: Deno.Conn,
  dst: Deno.Conn,
  observe?: (chunk: Uint8Array) => void,
): Promise<void> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  let lastRead = 0;
  let stopped = false;
  const wake: { writer?: () => void; reader?: () => void } = {};

  const reading = (async () => {
    try {
      const small = new Uint8Array(SMALL);
      let buf = small;
      while (true) {
        while (size >= MAX_BUFFERED && !stopped) {
          await new Promise<void>((r) => (wake.reader = r));
        }
        if (stopped) break;
        const n = await src.read(buf);
        if (n === null) break;
        lastRead = n;
        const chunk = buf.slice(0, n);
        if (n === buf.length && buf === small) buf = new Uint8Array(LARGE);
        else if (n < SMALL && buf !== small) buf = small;
        observe?.(chunk);
        chunks.push(chunk);
        size += n;
        wake.writer?.();
      }
    } finally {
      ended = true;
      wake.writer?.();
    }
  })();
  // A source that fails while the writer is busy must not surface as an
  // unhandled rejection (it would end the process); it is awaited below.
  reading.catch(() => {});

  try {
    while (true) {
      if (size === 0) {
        if (ended) break;
        await new Promise<void>((r) => (wake.writer = r));
        wake.writer = undefined;
        continue;
      }
      // Small messages: one cheap turn lets the reader gather what follows
      // into the same write. Bulk reads already fill whole segments, so
      // they are written at once (a timer turn here costs milliseconds).
      if (lastRead < BULK) await new Promise((r) => setImmediate(r));
      const taken = chunks.splice(0);
      let out = taken[0];
      if (taken.length > 1) out = concatBytes(taken, size);
      size = 0;
      wake.reader?.();
      let written = 0;
      while (written < out.length) {
        written += await dst.write(out.subarray(written));
      }
    }
  } catch (e) {
    // The destination failed: stop reading (without waiting for a read
    // that may never return; the caller closes the connections).
    stopped = true;
    wake.reader?.();
    reading.catch(() => {});
    throw e;
  }
  await reading.catch(() => {});
}
