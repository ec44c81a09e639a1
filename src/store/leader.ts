// Loops that must run once per cluster (IPAM reconcile, the credential
// janitor): on a store shared by several servers they run under a lease on
// one server at a time and move when it dies; on SQLite (one server) they
// simply run.

import { untilAborted } from "../util/async.ts";
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

/** Keeps `key` = `value` in the store while this server runs (on etcd: under
 * a lease, gone soon after the process dies; on SQLite: removed at stop). */
export async function advertise(
  store: Store,
  key: string,
  value: string,
  signal: AbortSignal,
): Promise<void> {
  if (hasLeadership(store)) return await store.hold(key, value, signal);
  const cur = await store.get(key);
  await store.txn([{ key, modRevision: cur?.modRevision ?? 0 }], [
    { type: "put", key, value },
  ]);
  await untilAborted(signal);
  await store.delete(key).catch(() => {});
}
