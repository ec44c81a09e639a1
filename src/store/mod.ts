// The datastore: interface, errors and the embedded SQLite implementation.

export type {
  Compare,
  Entry,
  EventType,
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
} from "./errors.ts";
export { openSqliteStore, type SqliteStoreOptions } from "./sqlite.ts";
export { defaultStorePath } from "./path.ts";
