// Files the plugins and the runtime keep: an I/O failure as the CNI error
// and an atomic whole-file write (the sync read/write loops live in
// src/util/sync_io.ts and are re-exported here).

import { CniError, ErrorCode } from "./plugin.ts";
import { writeAllSync } from "../util/sync_io.ts";

export { readAllSync, writeAllSync } from "../util/sync_io.ts";

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
