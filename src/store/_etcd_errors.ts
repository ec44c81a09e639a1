// etcd client failures as store errors: a compacted revision is Gone, a
// missed deadline or a cluster without quorum is Unavailable (503/504).

import type * as Etcd from "etcd3";
import { StoreClosed, StoreError, Unavailable } from "./errors.ts";

/** Recognises the error classes of the loaded `etcd3` module. */
export class EtcdErrors {
  constructor(readonly mod: typeof Etcd) {}

  isCompacted(e: unknown): boolean {
    return e instanceof Error &&
      /required revision has been compacted/.test(e.message);
  }

  isTimeout(e: unknown): boolean {
    return e instanceof this.mod.GRPCDeadlineExceededError;
  }

  isUnavailable(e: unknown): boolean {
    return e instanceof this.mod.GRPCUnavailableError ||
      e instanceof this.mod.GRPCCancelledError ||
      (e instanceof Error && e.name === "BrokenCircuitError") ||
      (e instanceof Error && this.mod.isRecoverableError(e)) ||
      (e instanceof Error &&
        /no leader|timed out|unavailable|circuit breaker is open/i.test(
          e.message,
        ));
  }
}

/** Maps a client error to a StoreError; `closed`: the store was closed. */
export function toStoreError(
  errors: EtcdErrors,
  e: unknown,
  closed: boolean,
): Error {
  if (e instanceof StoreError || e instanceof RangeError) return e;
  if (closed || e instanceof errors.mod.ClientClosedError) {
    return new StoreClosed();
  }
  const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0]
    .replace(/\.?\s*Resolution note:.*$/, "");
  if (errors.isTimeout(e)) {
    return new Unavailable(`etcd did not answer in time: ${msg}`, true, {
      cause: e,
    });
  }
  if (errors.isUnavailable(e)) {
    return new Unavailable(`etcd is unavailable: ${msg}`, false, { cause: e });
  }
  return new StoreError(`etcd: ${msg}`, { cause: e });
}
