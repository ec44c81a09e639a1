// Synchronous whole-stream reads and writes, for the CNI start path (no
// streams to load): a bounded read to end of file, a write loop, and the
// join of read chunks (also for async readers elsewhere). No imports.

/**
 * Reads `file` to its end, synchronously; null when it holds more than `max`
 * bytes.
 */
export function readAllSync(
  file: { readSync(p: Uint8Array): number | null },
  max: number,
): Uint8Array | null {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const buf = new Uint8Array(Math.min(64 * 1024, max + 1 - size));
    const n = file.readSync(buf);
    if (n === null || n === 0) break;
    chunks.push(buf.subarray(0, n));
    size += n;
    if (size > max) return null;
  }
  return concatBytes(chunks, size);
}

/** Writes all of `data` (writeSync may write less than asked). */
export function writeAllSync(
  file: { writeSync(p: Uint8Array): number },
  data: Uint8Array,
): void {
  let off = 0;
  while (off < data.length) off += file.writeSync(data.subarray(off));
}

/** The chunks one after another in one array of `size` bytes (their sum,
 * when the caller has counted it). */
export function concatBytes(
  chunks: readonly Uint8Array[],
  size = chunks.reduce((n, c) => n + c.length, 0),
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
