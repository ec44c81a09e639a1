// The etcd v3 datastore, for several servers on one cluster. Revisions are
// etcd's own: a key's modRevision is its Kubernetes resourceVersion, a watch
// resumes from any revision etcd still holds, and one that was compacted is
// Gone. Writes are etcd transactions comparing mod_revision. Loaded only
// when the datastore endpoint is http(s):// (see open.ts): the `etcd3` npm
// package (gRPC) never reaches a SQLite server, an agent or the CNI path.

import { Buffer } from "node:buffer";
import type * as Etcd from "etcd3";
import { SharedWatch } from "./_etcd_shared_watch.ts";
import { watchEtcd } from "./_etcd_watch.ts";
import { EtcdErrors, toStoreError } from "./_etcd_errors.ts";
import { entryOf, prefixEnd } from "./_etcd_kv.ts";
import { holdWithLease, leadWithLease } from "./_etcd_leader.ts";
import { dropIpServername } from "./_tls_ip_shim.ts";
import { Gone, StoreClosed, StoreError } from "./errors.ts";
import { createKey, deleteKey, updateKey } from "./ops.ts";
import type {
  Compare,
  Entry,
  Leadership,
  ListOptions,
  ListResult,
  Op,
  Store,
  StoreEvent,
  TxnResult,
  WatchOptions,
} from "./types.ts";

export interface EtcdStoreOptions {
  /** Client URLs, http:// or https://. */
  endpoints: string[];
  /** PEM files for TLS to etcd (K3s's --datastore-cafile/certfile/keyfile). */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Events a watcher may lag behind before it gets Gone (default 10000). */
  watchQueueLimit?: number;
  /** Deadline of one request (default 10000 ms); beyond it, Unavailable. */
  requestTimeoutMs?: number;
  /** How long open waits for etcd to answer (default 5000 ms). */
  connectTimeoutMs?: number;
}

/** Keys fetched per range request when listing (stays far below gRPC's
 * 4 MiB message bound for Kubernetes-sized objects). */
const LIST_PAGE = 500;

const enc = (s: string) => Buffer.from(s, "utf8");

async function readPem(path: string | undefined, what: string) {
  if (!path) return undefined;
  try {
    return Buffer.from(await Deno.readFile(path));
  } catch (e) {
    throw new StoreError(
      `cannot read the datastore ${what} ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** Connects to etcd and checks that it answers; StoreError (one line) when
 * the files are unreadable or no endpoint answers in time. */
export async function openEtcdStore(
  options: EtcdStoreOptions,
): Promise<Store & Leadership> {
  if (options.endpoints.some((e) => e.startsWith("https://"))) {
    dropIpServername();
  }
  const mod = await import("etcd3");
  const ca = await readPem(options.caFile, "CA file");
  const cert = await readPem(options.certFile, "certificate file");
  const key = await readPem(options.keyFile, "key file");
  const tls = options.endpoints.some((e) => e.startsWith("https://"));
  if (tls && !ca) {
    throw new StoreError(
      "an https:// etcd endpoint needs --datastore-cafile (the CA that signed etcd's certificate)",
    );
  }
  if ((cert && !key) || (key && !cert)) {
    throw new StoreError(
      "--datastore-certfile and --datastore-keyfile go together",
    );
  }
  const timeout = options.requestTimeoutMs ?? 10000;
  const client = new mod.Etcd3({
    hosts: options.endpoints,
    credentials: tls
      ? { rootCertificate: ca!, certChain: cert, privateKey: key }
      : undefined,
    dialTimeout: options.connectTimeoutMs ?? 5000,
    // HTTP/2 pings find a member that vanished without closing the
    // connection (a dead machine), so long-lived watches move on.
    grpcOptions: {
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
    },
    // A deadline per request; watch and lease keep-alive streams live on.
    defaultCallOptions: (ctx) =>
      ctx.isStream ? {} : { deadline: Date.now() + timeout },
  });
  const store = new EtcdStore(client, mod, options);
  try {
    await store.revision();
  } catch (e) {
    client.close();
    throw new StoreError(
      `cannot reach etcd at ${options.endpoints.join(",")}: ${
        (e as Error).message
      }`,
      { cause: e },
    );
  }
  return store;
}

class EtcdStore implements Store, Leadership {
  #closed = new AbortController();
  #shared = new Map<string, SharedWatch>();
  #errors: EtcdErrors;

  constructor(
    readonly client: Etcd.Etcd3,
    readonly mod: typeof Etcd,
    readonly options: EtcdStoreOptions,
  ) {
    this.#errors = new EtcdErrors(mod);
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed.signal.aborted) throw new StoreClosed();
    try {
      return await fn();
    } catch (e) {
      throw toStoreError(this.#errors, e, this.#closed.signal.aborted);
    }
  }

  revision(): Promise<number> {
    return this.#call(async () => {
      const r = await this.client.kv.range({ key: enc("\0"), limit: 1 });
      return Number(r.header.revision);
    });
  }

  get(key: string): Promise<Entry | null> {
    return this.#call(async () => {
      const r = await this.client.kv.range({ key: enc(key) });
      return r.kvs.length ? entryOf(r.kvs[0]) : null;
    });
  }

  list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const limit = opts.limit;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      return Promise.reject(
        new RangeError(`list limit ${limit} is not a positive integer`),
      );
    }
    return this.#call(async () => {
      const entries: Entry[] = [];
      const end = prefixEnd(prefix);
      // `after`: the smallest key greater than it is after + "\0".
      const first = opts.after !== undefined && opts.after >= prefix
        ? `${opts.after}\0`
        : (prefix === "" ? "\0" : prefix);
      let from = enc(first);
      let revision = opts.revision ?? 0;
      let more = false;
      while (true) {
        const want = limit === undefined
          ? LIST_PAGE
          : Math.min(LIST_PAGE, limit - entries.length + 1);
        const r = await this.#rangeAt(from, end, want, revision);
        if (!revision) revision = Number(r.header.revision);
        entries.push(...r.kvs.map(entryOf));
        if (limit !== undefined && entries.length > limit) {
          entries.length = limit;
          more = true;
          break;
        }
        if (!r.more || r.kvs.length === 0) break;
        from = Buffer.concat([r.kvs.at(-1)!.key, Buffer.from([0])]);
      }
      return { entries, revision, more };
    });
  }

  /** One range read at `revision` (0: current): a compacted revision is
   * Gone, a future one a RangeError, as on SQLite. */
  async #rangeAt(
    key: Buffer,
    end: Buffer,
    limit: number,
    revision: number,
  ) {
    try {
      return await this.client.kv.range({
        key,
        range_end: end,
        limit,
        revision: revision || undefined,
      });
    } catch (e) {
      if (this.#errors.isCompacted(e)) {
        throw new Gone(revision, await this.compactRevision());
      }
      if (e instanceof Error && /future revision/.test(e.message)) {
        throw new RangeError(
          `revision ${revision} is newer than the store's revision`,
        );
      }
      throw e;
    }
  }

  txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    return this.#call(async () => {
      const r = await this.client.kv.txn({
        compare: compares.map((c) => ({
          key: enc(c.key),
          target: "Mod",
          result: "Equal",
          mod_revision: c.modRevision,
        })),
        success: ops.map((op) =>
          op.type === "put"
            ? {
              request_put: {
                key: enc(op.key),
                value: enc(op.value),
                prev_kv: true,
              },
            }
            : { request_delete_range: { key: enc(op.key), prev_kv: true } }
        ),
        failure: compares.map((c) => ({
          request_range: { key: enc(c.key), keys_only: true },
        })),
      });
      const revision = Number(r.header.revision);
      if (!r.succeeded) {
        const failed = compares.find((c, i) => {
          const kv = r.responses[i]?.response_range?.kvs?.[0];
          return Number(kv?.mod_revision ?? 0) !== c.modRevision;
        }) ?? compares[0];
        return { succeeded: false, revision, failed, results: [] };
      }
      const results = ops.map((op, i): Entry | null => {
        const res = r.responses[i];
        if (op.type === "put") {
          const prev = res.response_put?.prev_kv;
          return {
            key: op.key,
            value: op.value,
            createRevision: prev ? Number(prev.create_revision) : revision,
            modRevision: revision,
          };
        }
        const prev = res.response_delete_range?.prev_kvs?.[0];
        return prev ? { ...entryOf(prev), modRevision: revision } : null;
      });
      return { succeeded: true, revision, results };
    });
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

  /** Served from the prefix's shared etcd watch when it covers
   * `fromRevision` (or by a new one), else by an etcd watch of its own. */
  watch(prefix: string, opts: WatchOptions): AsyncIterableIterator<StoreEvent> {
    if (this.#closed.signal.aborted) throw new StoreClosed();
    const queueLimit = this.options.watchQueueLimit ?? 10000;
    let shared = this.#shared.get(prefix);
    if (!shared) {
      const created: SharedWatch = new SharedWatch(
        this.client,
        this.#errors,
        prefix,
        opts.fromRevision,
        this.#closed.signal,
        queueLimit,
        () => {
          if (this.#shared.get(prefix) === created) this.#shared.delete(prefix);
        },
      );
      this.#shared.set(prefix, created);
      shared = created;
    }
    if (shared.covers(opts.fromRevision)) {
      return shared.subscribe(opts.fromRevision, opts.signal);
    }
    return watchEtcd(this.client, this.#errors, {
      prefix,
      fromRevision: opts.fromRevision,
      signal: opts.signal,
      closed: this.#closed.signal,
      queueLimit,
    });
  }

  /** etcd does not report its compacted revision C; it is found by a
   * binary search for the oldest readable revision. A watch may start from
   * C - 1 (etcd replays from C on). */
  compactRevision(): Promise<number> {
    return this.#call(async () => {
      let lo = 1;
      let hi = Math.max(1, await this.revision());
      while (lo < hi) { // the oldest readable revision is in [lo, hi]
        const mid = Math.floor((lo + hi) / 2);
        if (await this.#readable(mid)) hi = mid;
        else lo = mid + 1;
      }
      return lo - 1;
    });
  }

  /** Whether revision `rev` can still be read (not compacted away). */
  async #readable(rev: number): Promise<boolean> {
    try {
      await this.client.kv.range({ key: enc("\0"), limit: 1, revision: rev });
      return true;
    } catch (e) {
      if (this.#errors.isCompacted(e)) return false;
      throw e;
    }
  }

  compact(revision: number): Promise<void> {
    return this.#call(async () => {
      try {
        await this.client.kv.compact({ revision, physical: true });
      } catch (e) {
        if (!this.#errors.isCompacted(e)) throw e; // already compacted
      }
    });
  }

  lead(
    name: string,
    identity: string,
    fn: (signal: AbortSignal) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    const both = AbortSignal.any([signal, this.#closed.signal]);
    return leadWithLease(this.client, name, identity, fn, both);
  }

  hold(key: string, value: string, signal: AbortSignal): Promise<void> {
    const both = AbortSignal.any([signal, this.#closed.signal]);
    return holdWithLease(this.client, key, value, both);
  }

  close(): void {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    this.client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
