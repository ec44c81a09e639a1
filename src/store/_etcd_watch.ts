// An etcd watch as the store's async iterator. The client reconnects a
// broken stream by itself; before it does, the watch is pointed at the
// revision after the last event delivered, so nothing is missed or repeated
// (the client's own bookkeeping can skip events of a long replay). A watch
// etcd cancels (its start revision was compacted) ends with Gone: relist.
// Like the SQLite hub, a consumer further behind than `queueLimit` gets Gone.

import { Buffer } from "node:buffer";
import type * as Etcd from "etcd3";
import { type EtcdErrors, toStoreError } from "./_etcd_errors.ts";
import { prefixEnd, toStoreEvent } from "./_etcd_kv.ts";
import { Gone } from "./errors.ts";
import type { StoreEvent } from "./types.ts";

export interface EtcdWatchOptions {
  prefix: string;
  fromRevision: number;
  signal?: AbortSignal;
  /** Aborted when the store closes. */
  closed: AbortSignal;
  queueLimit: number;
}

export function watchEtcd(
  client: Etcd.Etcd3,
  errors: EtcdErrors,
  o: EtcdWatchOptions,
): AsyncIterableIterator<StoreEvent> {
  const queue: StoreEvent[] = [];
  let failure: Error | null = null;
  let done = false;
  let wake: (() => void) | null = null;
  let last = o.fromRevision; // the revision of the last event queued
  let resumedAfter = o.fromRevision; // events <= this were already queued
  const start = Buffer.from(o.prefix === "" ? "\0" : o.prefix, "utf8");
  const watcher = client.watch()
    .inRange(new errors.mod.Range(start, prefixEnd(o.prefix)))
    .withPreviousKV()
    .startRevision(String(o.fromRevision + 1))
    .watcher();

  const finish = (e: Error | null) => {
    if (done) return;
    done = true;
    failure ??= e;
    o.signal?.removeEventListener("abort", onAbort);
    o.closed.removeEventListener("abort", onAbort);
    watcher.removeAllListeners("data");
    watcher.cancel().catch(() => {});
    wake?.();
  };
  const onAbort = () => finish(null);
  o.signal?.addEventListener("abort", onAbort, { once: true });
  o.closed.addEventListener("abort", onAbort, { once: true });
  if (o.signal?.aborted || o.closed.aborted) finish(null);

  watcher.on("data", (res: Etcd.IWatchResponse) => {
    for (const ev of res.events) {
      const e = toStoreEvent(ev);
      if (e.revision <= resumedAfter) continue;
      if (queue.length >= o.queueLimit) {
        finish(
          new Gone(
            last,
            last,
            `watch fell more than ${o.queueLimit} events behind; relist`,
          ),
        );
        return;
      }
      queue.push(e);
      last = e.revision;
    }
    wake?.();
  });
  watcher.on("disconnected", () => {
    // Resume after what was delivered, whatever the client recorded.
    resumedAfter = last;
    watcher.request.start_revision = last + 1;
  });
  watcher.on("error", (e: Error) => {
    finish(
      errors.isCompacted(e) || /canceled/i.test(e.message)
        ? new Gone(
          o.fromRevision,
          o.fromRevision,
          `watch from revision ${o.fromRevision} was canceled by etcd (compacted); relist`,
        )
        : toStoreError(errors, e, o.closed.aborted),
    );
  });

  async function* iterate(): AsyncGenerator<StoreEvent> {
    try {
      while (true) {
        if (queue.length > 0) {
          yield queue.shift()!;
          continue;
        }
        if (failure) throw failure;
        if (done) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    } finally {
      finish(null);
    }
  }
  return iterate();
}
