// Files the plugins and the runtime keep: an I/O failure as the CNI error
// (the sync read/write loops live in src/util/sync_io.ts and are
// re-exported here; the atomic whole-file write is src/util/fs.ts).

import { CniError, ErrorCode } from "./plugin.ts";

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
