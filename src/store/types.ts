// The datastore contract: a flat, ordered key space with one global,
// monotonically increasing revision (etcd's model; kine's on SQL). Every write
// gets a new revision; an entry carries the revision that created it and the
// one that last modified it (its Kubernetes resourceVersion). Watches replay
// the bounded event history after a revision, then follow live writes.

/** One stored key. `value` is opaque text (the API stores JSON). */
export interface Entry {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
}

/** A condition of a transaction: the key's modRevision, 0 = must not exist. */
export interface Compare {
  key: string;
  modRevision: number;
}

export type Op =
  | { type: "put"; key: string; value: string }
  | { type: "delete"; key: string };

export interface TxnResult {
  succeeded: boolean;
  /** The store's revision after the transaction. */
  revision: number;
  /** When not succeeded: the first compare that failed. */
  failed?: Compare;
  /** When succeeded: per op, the entry written (put) or removed (delete, with
   * modRevision set to the deletion's revision), null for a missing key. */
  results: (Entry | null)[];
}

export type EventType = "put" | "delete";

/** One change. For a delete, `entry` is the last value with modRevision set
 * to the revision of the deletion. `prev` is the value before the change. */
export interface StoreEvent {
  type: EventType;
  revision: number;
  entry: Entry;
  prev: Entry | null;
}

export interface ListResult {
  entries: Entry[];
  /** The revision the list was read at (the current one by default). */
  revision: number;
  /** True when `limit` cut the list short (more keys follow the last). */
  more: boolean;
}

/** A page of a list, possibly read at a past revision (etcd's range). */
export interface ListOptions {
  /** Read the keys as they were at this revision (default: current). Throws
   * Gone when it is older than compactRevision(), RangeError when it is
   * newer than revision(). */
  revision?: number;
  /** Only keys strictly greater than this one (a page's last key). */
  after?: string;
  /** At most this many entries (default: all). */
  limit?: number;
}

export interface WatchOptions {
  /** Deliver events with a revision strictly greater than this. */
  fromRevision: number;
  signal?: AbortSignal;
}

export interface Store {
  /** The current revision of the whole store. */
  revision(): Promise<number>;
  get(key: string): Promise<Entry | null>;
  /** Every key starting with `prefix`, in key order (see ListOptions). */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Throws AlreadyExists when the key exists. */
  create(key: string, value: string): Promise<Entry>;
  /** Throws NotFound, or Conflict when `modRevision` is given and stale. */
  update(key: string, value: string, modRevision?: number): Promise<Entry>;
  /** Returns the removed entry (modRevision = the deletion's revision).
   * Throws NotFound, or Conflict when `modRevision` is given and stale. */
  delete(key: string, modRevision?: number): Promise<Entry>;
  /** All compares hold -> all ops applied atomically; else nothing changes. */
  txn(compares: Compare[], ops: Op[]): Promise<TxnResult>;
  /** Events under `prefix` after `fromRevision`; throws Gone when that
   * revision was compacted. Ends when the signal aborts or the store closes;
   * throws Gone if the consumer falls too far behind. */
  watch(prefix: string, opts: WatchOptions): AsyncIterableIterator<StoreEvent>;
  /** The oldest revision a watch may start from. */
  compactRevision(): Promise<number>;
  /** Drops history up to `revision` (exclusive of later events). */
  compact(revision: number): Promise<void>;
  close(): void;
  [Symbol.dispose](): void;
}

/** A store shared by several servers (etcd) offers leadership: `fn` runs
 * while this process holds the cluster-wide lock `name`, with a signal that
 * aborts when the lock is lost; then it is tried again, until `signal`. */
export interface Leadership {
  lead(
    name: string,
    identity: string,
    fn: (signal: AbortSignal) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void>;
  /** Keeps `key` = `value` present while this process lives (a lease kept
   * alive), until `signal` aborts; the key goes when the process dies. */
  hold(key: string, value: string, signal: AbortSignal): Promise<void>;
}
