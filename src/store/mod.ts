// The datastore: interface, errors, the embedded SQLite implementation and
// openStore(), which picks SQLite or etcd (loaded lazily) by the endpoint.

export type {
  Compare,
  Entry,
  EventType,
  Leadership,
  ListOptions,
  ListResult,
  Op,
  Store,
  StoreEvent,
  TxnResult,
  WatchOptions,
} from "./types.ts";
export {
  AlreadyExists,
  Conflict,
  Gone,
  NotFound,
  StoreClosed,
  StoreError,
  Unavailable,
} from "./errors.ts";
export { openSqliteStore, type SqliteStoreOptions } from "./sqlite.ts";
export { defaultStorePath } from "./path.ts";
export { type Datastore, parseDatastoreEndpoint } from "./endpoint.ts";
export { openStore, type OpenStoreOptions } from "./open.ts";
export { createKey, deleteKey, updateKey } from "./ops.ts";
export { advertise, runOncePerCluster } from "./leader.ts";
export { COMPACT_INTERVAL_MS, runCompactor } from "./compactor.ts";
