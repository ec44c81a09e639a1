// Copies one connection's bytes to another, coalescing what arrives close
// together into one write. The TLS socket of the front listener cannot get
// TCP_NODELAY from Deno, and forwarding many small writes (a response head,
// then body chunks, each ending in a partial segment) would stall on
// Nagle's algorithm against the client's delayed ACKs (~40 ms per response).

import { setImmediate } from "node:timers";

const MAX_BUFFERED = 1 << 20;
const BULK = 16 * 1024;

/** Resolves when `src` reaches EOF (or fails) and everything read is written. */
export async function pump(src: Deno.Conn, dst: Deno.Conn): Promise<void> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  let lastRead = 0;
  let stopped = false;
  const wake: { writer?: () => void; reader?: () => void } = {};

  const reading = (async () => {
    try {
      const buf = new Uint8Array(256 * 1024);
      while (true) {
        while (size >= MAX_BUFFERED && !stopped) {
          await new Promise<void>((r) => (wake.reader = r));
        }
        if (stopped) break;
        const n = await src.read(buf);
        if (n === null) break;
        lastRead = n;
        chunks.push(buf.slice(0, n));
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
      if (taken.length > 1) {
        out = new Uint8Array(size);
        let off = 0;
        for (const c of taken) {
          out.set(c, off);
          off += c.length;
        }
      }
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
