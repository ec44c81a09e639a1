// create/update/delete over `txn()`: the one implementation both stores use,
// so a conflict means the same thing on SQLite and on etcd.

import { AlreadyExists, Conflict, NotFound } from "./errors.ts";
import type { Entry, Op, Store } from "./types.ts";

type TxnStore = Pick<Store, "get" | "txn">;

/** Puts `key` if it does not exist; AlreadyExists otherwise. */
export async function createKey(
  store: TxnStore,
  key: string,
  value: string,
): Promise<Entry> {
  const r = await store.txn([{ key, modRevision: 0 }], [
    { type: "put", key, value },
  ]);
  if (!r.succeeded) throw new AlreadyExists(key);
  return r.results[0]!;
}

/** Replaces an existing key's value; NotFound, or Conflict when
 * `modRevision` is given and stale. */
export function updateKey(
  store: TxnStore,
  key: string,
  value: string,
  modRevision?: number,
): Promise<Entry> {
  return guarded(store, key, modRevision, { type: "put", key, value });
}

/** Removes an existing key; NotFound, or Conflict when `modRevision` is
 * given and stale. */
export function deleteKey(
  store: TxnStore,
  key: string,
  modRevision?: number,
): Promise<Entry> {
  return guarded(store, key, modRevision, { type: "delete", key });
}

/** `op` on an existing key, if its modRevision is `modRevision` (default:
 * whatever it is now); NotFound or Conflict otherwise. */
async function guarded(
  store: TxnStore,
  key: string,
  modRevision: number | undefined,
  op: Op,
): Promise<Entry> {
  const cur = await store.get(key);
  if (!cur) throw new NotFound(key);
  const expected = modRevision ?? cur.modRevision;
  const r = await store.txn([{ key, modRevision: expected }], [op]);
  if (!r.succeeded) {
    const now = await store.get(key);
    if (!now) throw new NotFound(key);
    throw new Conflict(key, expected, now.modRevision);
  }
  return r.results[0]!;
}
