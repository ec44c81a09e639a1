// Loops that must run once per cluster (IPAM reconcile, the credential
// janitor): on a store shared by several servers they run under a lease on
// one server at a time and move when it dies; on SQLite (one server) they
// simply run.

import type { Leadership, Store } from "./types.ts";

function hasLeadership(store: Store): store is Store & Leadership {
  return typeof (store as Partial<Leadership>).lead === "function";
}

/** Runs `fn` on at most one server of the cluster at a time, until
 * `signal` aborts. */
export function runOncePerCluster(
  store: Store,
  name: string,
  identity: string,
  fn: (signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  if (hasLeadership(store)) return store.lead(name, identity, fn, signal);
  return fn(signal);
}
