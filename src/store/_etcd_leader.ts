// One holder at a time for a cluster-wide loop: the holder owns the key
// /weft/leader/<name>, attached to a lease it keeps alive. When the holder
// dies (or loses etcd), the lease expires after LEASE_TTL_S, the key goes,
// and another server's next attempt takes it.

import type * as Etcd from "etcd3";
import { sleep, untilAborted } from "../util/async.ts";

/** Seconds a dead holder keeps the loop before another server takes it. */
export const LEASE_TTL_S = 5;
const RETRY_MS = 1000;

/** The key a loop's holder writes (its value: the holder's identity). */
export function leaderKey(name: string): string {
  return `/weft/leader/${name}`;
}

/** Runs `fn` whenever this process holds `name`, until `signal` aborts;
 * `fn`'s signal aborts when the lease is lost. */
export async function leadWithLease(
  client: Etcd.Etcd3,
  name: string,
  identity: string,
  fn: (signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const key = leaderKey(name);
  while (!signal.aborted) {
    const lease = client.lease(LEASE_TTL_S);
    const lost = new AbortController();
    lease.on("lost", () => lost.abort());
    try {
      await lease.grant();
      const won = await client.if(key, "Create", "==", 0)
        .then(lease.put(key).value(identity))
        .commit();
      if (won.succeeded) {
        await fn(AbortSignal.any([signal, lost.signal]));
      }
    } catch {
      // etcd unreachable or the lease lost: try again below.
    } finally {
      if (lost.signal.aborted) lease.release();
      else await lease.revoke().catch(() => lease.release());
    }
    await sleep(RETRY_MS, signal);
  }
}

/** Keeps `key` = `value` under a lease until `signal` aborts; re-creates it
 * (with a new lease) when the lease is lost while etcd was unreachable. */
export async function holdWithLease(
  client: Etcd.Etcd3,
  key: string,
  value: string,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    const lease = client.lease(LEASE_TTL_S);
    const lost = new AbortController();
    lease.on("lost", () => lost.abort());
    try {
      await lease.put(key).value(value).exec();
      await untilAborted(AbortSignal.any([signal, lost.signal]));
    } catch {
      // etcd unreachable: try again below.
    } finally {
      if (lost.signal.aborted) lease.release();
      else await lease.revoke().catch(() => lease.release());
    }
    await sleep(RETRY_MS, signal);
  }
}
