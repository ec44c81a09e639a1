// History compaction for a shared etcd, as kube-apiserver does it: every
// interval, compact to the revision seen one interval earlier, so a watch
// that fell behind by less than one interval can still resume. (SQLite
// trims its own history.) Run it once per cluster (runOncePerCluster).

import { sleep } from "../util/async.ts";
import type { Store } from "./types.ts";

/** kube-apiserver's default --etcd-compaction-interval. */
export const COMPACT_INTERVAL_MS = 5 * 60_000;

export async function runCompactor(
  store: Store,
  signal: AbortSignal,
  intervalMs = COMPACT_INTERVAL_MS,
  log: (m: string) => void = () => {},
): Promise<void> {
  let seen = 0;
  while (!signal.aborted) {
    try {
      const now = await store.revision();
      if (seen > 0) {
        await store.compact(seen);
        log(`compacted etcd history up to revision ${seen}`);
      }
      seen = now;
    } catch (e) {
      log(`compaction: ${(e as Error).message}`);
    }
    await sleep(intervalMs, signal);
  }
}
