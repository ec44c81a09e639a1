// Files the plugins and the runtime keep: an I/O failure as the CNI error,
// a write loop for short writes, and an atomic whole-file write.

import { CniError, ErrorCode } from "./plugin.ts";

/** A CniError with the spec's I/O failure code (5), keeping `err` as cause. */
export function ioFailure(msg: string, err: unknown): CniError {
  return new CniError(
    ErrorCode.IOFailure,
    `${msg}: ${err instanceof Error ? err.message : err}`,
    undefined,
    { cause: err },
  );
}

/**
 * Reads `file` to its end, synchronously (no streams to load on a plugin
 * start); null when it holds more than `max` bytes.
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
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Writes all of `data` (writeSync may write less than asked). */
export function writeAllSync(
  file: { writeSync(p: Uint8Array): number },
  data: Uint8Array,
): void {
  let off = 0;
  while (off < data.length) off += file.writeSync(data.subarray(off));
}

/**
 * Replaces `path` with `text` atomically: a temp file (0600) beside it,
 * fsync, rename; the parent directory is created (0700) when missing. The
 * temp file is removed on failure and the error rethrown.
 */
export function writeFileAtomicSync(path: string, text: string): void {
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")) || "/", {
      recursive: true,
      mode: 0o700,
    });
    using f = Deno.openSync(tmp, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    writeAllSync(f, new TextEncoder().encode(text));
    f.syncSync();
    Deno.renameSync(tmp, path);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not created, or already renamed */ }
    throw err;
  }
}
