// The embedded datastore: SQLite through node:sqlite, kine-like (parent
// directories are created 0700). `kv` holds
// the current value of every key, `log` one row per revision (the watch
// history), `meta` the current and the compacted revision. WAL with
// synchronous=FULL: a write is acknowledged only after it is on disk, so it
// survives kill -9. One process owns the file (the server); watchers are fed
// in-process after each commit.

import { DatabaseSync } from "node:sqlite";
import { WatchHub } from "./_hub.ts";
import { Gone, StoreClosed, StoreError } from "./errors.ts";
import { createKey, deleteKey, updateKey } from "./ops.ts";
import type {
  Compare,
  Entry,
  ListOptions,
  ListResult,
  Op,
  Store,
  StoreEvent,
  TxnResult,
  WatchOptions,
} from "./types.ts";

export interface SqliteStoreOptions {
  /** Revisions of history kept for watches (default 10000). */
  historyLimit?: number;
  /** Events a watcher may lag behind before it gets Gone (default 10000). */
  watchQueueLimit?: number;
  /** SQLite busy timeout in ms (default 30000, as K3s's kine). */
  busyTimeoutMs?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY, value TEXT NOT NULL,
  create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
  rev INTEGER PRIMARY KEY, key TEXT NOT NULL, deleted INTEGER NOT NULL,
  value TEXT NOT NULL, create_rev INTEGER NOT NULL,
  prev_value TEXT, prev_create_rev INTEGER, prev_mod_rev INTEGER);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS log_key_rev ON log (key, rev);
INSERT OR IGNORE INTO meta VALUES ('revision', 0), ('compacted', 0);
`;

interface KvRow {
  key: string;
  value: string;
  create_rev: number;
  mod_rev: number;
}

interface LogRow {
  rev: number;
  key: string;
  deleted: number;
  value: string;
  create_rev: number;
  prev_value: string | null;
  prev_create_rev: number | null;
  prev_mod_rev: number | null;
}

/** Opens (creating if needed) the SQLite store at `path`. */
export function openSqliteStore(
  path: string,
  options: SqliteStoreOptions = {},
): Store {
  try {
    if (path !== ":memory:") {
      const dir = path.slice(0, path.lastIndexOf("/"));
      if (dir) Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    }
    return new SqliteStore(path, options);
  } catch (e) {
    throw new StoreError(
      `cannot open the SQLite datastore ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** The upper bound of a prefix range: the prefix with its last char + 1. */
function prefixEnd(prefix: string): string {
  if (prefix === "") return "\u{10ffff}";
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

function toEntry(r: KvRow): Entry {
  return {
    key: r.key,
    value: r.value,
    createRevision: r.create_rev,
    modRevision: r.mod_rev,
  };
}

function toEvent(r: LogRow): StoreEvent {
  const prev = r.prev_value === null ? null : {
    key: r.key,
    value: r.prev_value,
    createRevision: r.prev_create_rev!,
    modRevision: r.prev_mod_rev!,
  };
  return {
    type: r.deleted ? "delete" : "put",
    revision: r.rev,
    entry: {
      key: r.key,
      value: r.value,
      createRevision: r.create_rev,
      modRevision: r.rev,
    },
    prev,
  };
}

class SqliteStore implements Store {
  #db: DatabaseSync;
  #hub: WatchHub;
  #historyLimit: number;
  #closed = false;
  #stmts;

  constructor(path: string, options: SqliteStoreOptions) {
    this.#db = new DatabaseSync(path);
    this.#db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 30000}`);
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = FULL");
    this.#db.exec(SCHEMA);
    this.#historyLimit = options.historyLimit ?? 10000;
    this.#hub = new WatchHub(options.watchQueueLimit ?? 10000);
    const db = this.#db;
    this.#stmts = {
      get: db.prepare("SELECT * FROM kv WHERE key = ?"),
      list: db.prepare(
        "SELECT * FROM kv WHERE key >= ? AND key > ? AND key < ? ORDER BY key LIMIT ?",
      ),
      // The keys as they were at a past revision: those unchanged since,
      // and for every key changed after it, the value before its first
      // later change (the log keeps every change after the compaction).
      listAt: db.prepare(
        `SELECT key, value, create_rev, mod_rev FROM kv
           WHERE key >= ?1 AND key > ?2 AND key < ?3 AND mod_rev <= ?4
         UNION ALL
         SELECT l.key, l.prev_value, l.prev_create_rev, l.prev_mod_rev FROM log l
           WHERE l.key >= ?1 AND l.key > ?2 AND l.key < ?3 AND l.rev > ?4
             AND l.prev_value IS NOT NULL
             AND l.rev = (SELECT MIN(rev) FROM log WHERE key = l.key AND rev > ?4)
         ORDER BY key LIMIT ?5`,
      ),
      meta: db.prepare("SELECT value FROM meta WHERE name = ?"),
      setMeta: db.prepare("UPDATE meta SET value = ? WHERE name = ?"),
      put: db.prepare(
        "INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev",
      ),
      del: db.prepare("DELETE FROM kv WHERE key = ?"),
      log: db.prepare("INSERT INTO log VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
      history: db.prepare(
        "SELECT * FROM log WHERE rev > ? AND key >= ? AND key < ? ORDER BY rev",
      ),
      trim: db.prepare("DELETE FROM log WHERE rev <= ?"),
    };
  }

  #check(): void {
    if (this.#closed) throw new StoreClosed();
  }

  #meta(name: "revision" | "compacted"): number {
    const row = this.#stmts.meta.get(name) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  #getSync(key: string): Entry | null {
    const row = this.#stmts.get.get(key) as KvRow | undefined;
    return row ? toEntry(row) : null;
  }

  revision(): Promise<number> {
    this.#check();
    return Promise.resolve(this.#meta("revision"));
  }

  compactRevision(): Promise<number> {
    this.#check();
    return Promise.resolve(this.#meta("compacted"));
  }

  get(key: string): Promise<Entry | null> {
    this.#check();
    return Promise.resolve(this.#getSync(key));
  }

  list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    try {
      return Promise.resolve(this.#listSync(prefix, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #listSync(prefix: string, opts: ListOptions): ListResult {
    this.#check();
    const limit = opts.limit ?? -1;
    if (limit !== -1 && (!Number.isSafeInteger(limit) || limit < 1)) {
      throw new RangeError(`list limit ${limit} is not a positive integer`);
    }
    const after = opts.after ?? "";
    const end = prefixEnd(prefix);
    const sqlLimit = limit === -1 ? -1 : limit + 1;
    this.#db.exec("BEGIN");
    try {
      const current = this.#meta("revision");
      const at = opts.revision ?? current;
      if (at > current) {
        throw new RangeError(
          `revision ${at} is newer than the store's revision ${current}`,
        );
      }
      const compacted = this.#meta("compacted");
      if (at < current && at < compacted) throw new Gone(at, compacted);
      const rows = (at === current
        ? this.#stmts.list.all(prefix, after, end, sqlLimit)
        : this.#stmts.listAt.all(
          prefix,
          after,
          end,
          at,
          sqlLimit,
        )) as unknown[];
      const entries = (rows as KvRow[]).map(toEntry);
      const more = limit !== -1 && entries.length > limit;
      if (more) {
        entries.length = limit;
      }
      return { entries, revision: at, more };
    } finally {
      this.#db.exec("COMMIT");
    }
  }

  txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    this.#check();
    return Promise.resolve(this.#txnSync(compares, ops));
  }

  #txnSync(compares: Compare[], ops: Op[]): TxnResult {
    const events: StoreEvent[] = [];
    const results: (Entry | null)[] = [];
    this.#db.exec("BEGIN IMMEDIATE");
    let revision: number;
    try {
      revision = this.#meta("revision");
      for (const c of compares) {
        const cur = this.#getSync(c.key);
        if ((cur?.modRevision ?? 0) !== c.modRevision) {
          this.#db.exec("ROLLBACK");
          return { succeeded: false, revision, failed: c, results: [] };
        }
      }
      for (const op of ops) {
        const prev = this.#getSync(op.key);
        if (op.type === "delete" && !prev) {
          results.push(null);
          continue;
        }
        revision++;
        const entry: Entry = op.type === "put"
          ? {
            key: op.key,
            value: op.value,
            createRevision: prev?.createRevision ?? revision,
            modRevision: revision,
          }
          : { ...prev!, modRevision: revision };
        if (op.type === "put") {
          this.#stmts.put.run(op.key, op.value, entry.createRevision, revision);
        } else {
          this.#stmts.del.run(op.key);
        }
        this.#stmts.log.run(
          revision,
          op.key,
          op.type === "delete" ? 1 : 0,
          entry.value,
          entry.createRevision,
          prev?.value ?? null,
          prev?.createRevision ?? null,
          prev?.modRevision ?? null,
        );
        results.push(entry);
        events.push({ type: op.type, revision, entry, prev });
      }
      this.#stmts.setMeta.run(revision, "revision");
      this.#db.exec("COMMIT");
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
    for (const ev of events) this.#hub.publish(ev);
    this.#maybeCompact(revision);
    return { succeeded: true, revision, results };
  }

  #maybeCompact(revision: number): void {
    const compacted = this.#meta("compacted");
    const slack = Math.max(1, Math.floor(this.#historyLimit / 10));
    if (revision - compacted > this.#historyLimit + slack) {
      this.#compactSync(revision - this.#historyLimit);
    }
  }

  #compactSync(revision: number): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const current = this.#meta("revision");
      const target = Math.min(revision, current);
      if (target > this.#meta("compacted")) {
        this.#stmts.trim.run(target);
        this.#stmts.setMeta.run(target, "compacted");
      }
      this.#db.exec("COMMIT");
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  compact(revision: number): Promise<void> {
    this.#check();
    this.#compactSync(revision);
    return Promise.resolve();
  }

  create(key: string, value: string): Promise<Entry> {
    return createKey(this, key, value);
  }

  update(key: string, value: string, modRevision?: number): Promise<Entry> {
    return updateKey(this, key, value, modRevision);
  }

  delete(key: string, modRevision?: number): Promise<Entry> {
    return deleteKey(this, key, modRevision);
  }

  watch(prefix: string, opts: WatchOptions): AsyncIterableIterator<StoreEvent> {
    this.#check();
    const compacted = this.#meta("compacted");
    if (opts.fromRevision < compacted) {
      throw new Gone(opts.fromRevision, compacted);
    }
    return this.#hub.subscribe(prefix, opts.fromRevision, () => {
      const rows = this.#stmts.history.all(
        opts.fromRevision,
        prefix,
        prefixEnd(prefix),
      ) as unknown[];
      return (rows as LogRow[]).map(toEvent);
    }, opts.signal);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#hub.close();
    this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
