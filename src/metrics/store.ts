// Store call latency: a wrapper timing every call of a datastore that
// returns a promise (get, list, create, update, delete, txn, revision,
// compact...). Watches (async iterators) pass through untimed.

import { storeOperationDuration } from "./weft.ts";

/** `store` with each promise-returning method timed by method name. */
export function instrumentStore<T extends object>(store: T): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, key) {
      const v = Reflect.get(target, key, target);
      if (typeof v !== "function" || typeof key !== "string") return v;
      let w = wrapped.get(key);
      if (!w) {
        w = (...args: unknown[]) => {
          const done = storeOperationDuration.startTimer();
          let r: unknown;
          try {
            r = (v as (...a: unknown[]) => unknown).apply(target, args);
          } catch (e) {
            done({ operation: key, result: "error" });
            throw e;
          }
          if (!(r instanceof Promise)) return r;
          return r.then((x) => {
            done({ operation: key, result: "ok" });
            return x;
          }, (e) => {
            done({ operation: key, result: "error" });
            throw e;
          });
        };
        wrapped.set(key, w);
      }
      return w;
    },
  });
}
