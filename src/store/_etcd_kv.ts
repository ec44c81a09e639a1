// etcd's key-values and events as the store's entries and events.

import { Buffer } from "node:buffer";
import type * as Etcd from "etcd3";
import type { Entry, StoreEvent } from "./types.ts";

/** The range end covering every key that starts with `prefix` (byte-wise,
 * as etcd compares keys); "\0" means "to the end of the key space". */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, "utf8");
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i] < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]++;
      return end;
    }
  }
  return Buffer.from([0]);
}

export function entryOf(kv: Etcd.IKeyValue): Entry {
  return {
    key: kv.key.toString("utf8"),
    value: kv.value.toString("utf8"),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  };
}

export function toStoreEvent(ev: Etcd.IEvent): StoreEvent {
  const revision = Number(ev.kv.mod_revision);
  const prev = ev.prev_kv ? entryOf(ev.prev_kv) : null;
  if (ev.type === "Delete") {
    return {
      type: "delete",
      revision,
      entry: {
        key: ev.kv.key.toString("utf8"),
        value: prev?.value ?? "",
        createRevision: prev?.createRevision ?? 0,
        modRevision: revision,
      },
      prev,
    };
  }
  return { type: "put", revision, entry: entryOf(ev.kv), prev };
}
