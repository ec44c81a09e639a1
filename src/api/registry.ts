// Kubernetes objects over the key/value store: server-managed metadata,
// optimistic concurrency (resourceVersion = the entry's modRevision),
// retries for unconditional writes, and write hooks (node IPAM) whose extra
// compares/ops commit in the same transaction as the object.

import type { Compare, Entry, Op, Store, StoreEvent } from "../store/mod.ts";
import { ApiError, toApiError } from "./errors.ts";
import {
  type KubeObject,
  nameSuffix,
  nowTimestamp,
  validateMeta,
} from "./object.ts";
import {
  groupVersion,
  listPrefix,
  NAMESPACES,
  type ResourceDef,
  storeKey,
} from "./resources.ts";

export interface TxnExtra {
  compares: Compare[];
  ops: Op[];
}

export interface RegistryHooks {
  /** Before a create or update commits; may change `obj` in place. */
  beforeWrite?(
    def: ResourceDef,
    old: KubeObject | null,
    obj: KubeObject,
  ): Promise<TxnExtra>;
  beforeDelete?(def: ResourceDef, old: KubeObject): Promise<TxnExtra>;
  /** After a create or update committed (not for dry runs); must not
   * throw. */
  afterWrite?(
    def: ResourceDef,
    old: KubeObject | null,
    obj: KubeObject,
  ): Promise<void>;
}

/** `dryRun=All`: everything but the store write. */
export interface WriteOptions {
  dryRun?: boolean;
}

export interface ListPage {
  items: KubeObject[];
  /** The revision the list was read at. */
  revision: number;
  /** Store key of the last entry read (items may be fewer: convert). */
  lastKey?: string;
  more: boolean;
}

const NO_EXTRA: TxnExtra = { compares: [], ops: [] };

export interface ObjectEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: KubeObject;
  prev: KubeObject | null;
  revision: number;
}

const MAX_RETRIES = 20;

// The store hands the same event object to every watcher of a prefix:
// decode it once per resource (two versions share a prefix) for all of
// them. Consumers must not mutate the result.
const decodedEvents = new WeakMap<
  StoreEvent,
  Map<ResourceDef, ObjectEvent>
>();

function decodeEvent(def: ResourceDef, ev: StoreEvent): ObjectEvent {
  let byDef = decodedEvents.get(ev);
  if (!byDef) decodedEvents.set(ev, byDef = new Map());
  let out = byDef.get(def);
  if (!out) {
    const prev = ev.prev ? decode(def, ev.prev) : null;
    out = {
      type: ev.type === "delete" ? "DELETED" : prev ? "MODIFIED" : "ADDED",
      object: decode(def, ev.entry),
      prev,
      revision: ev.revision,
    };
    byDef.set(def, out);
  }
  return out;
}

export function decode(def: ResourceDef, e: Entry): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = JSON.parse(
    e.value,
  ) as KubeObject;
  const out = def.convert
    ? def.convert.fromStored({ apiVersion: "v1", kind: def.kind, ...rest })
    : { apiVersion: groupVersion(def), kind: def.kind, ...rest } as KubeObject;
  out.metadata.resourceVersion = String(e.modRevision);
  return out;
}

function encode(def: ResourceDef, obj: KubeObject): string {
  const stored = def.convert ? def.convert.toStored(obj) : obj;
  const copy = { ...stored, metadata: { ...stored.metadata } };
  delete copy.metadata.resourceVersion;
  copy.apiVersion = def.convert ? "v1" : groupVersion(def);
  copy.kind = def.kind;
  return JSON.stringify(copy);
}

function alreadyExists(def: ResourceDef, name: string): ApiError {
  return new ApiError(
    409,
    "AlreadyExists",
    `${def.plural} "${name}" already exists`,
    { name, kind: def.plural },
  );
}

/** Parses a resourceVersion sent by a client; 400 when it is not a number. */
export function parseRv(rv: string | undefined | null): number | undefined {
  if (rv === undefined || rv === null || rv === "") return undefined;
  const n = /^\d+$/.test(rv) ? Number(rv) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw ApiError.badRequest(
      `invalid resourceVersion ${JSON.stringify(rv.slice(0, 64))}`,
    );
  }
  return n;
}

/** How often at most expired objects of a prefix are looked for. */
const SWEEP_INTERVAL_MS = 30_000;

export class Registry {
  #tail = new Map<string, Promise<unknown>>();
  #swept = new Map<string, number>();

  constructor(readonly store: Store, readonly hooks: RegistryHooks = {}) {}

  /** Writes of a hooked resource run one at a time in this process, so
   * hook choices (a free CIDR) rarely collide; the transaction's compares
   * still make them safe against any other writer. */
  #serial<T>(def: ResourceDef, fn: () => Promise<T>): Promise<T> {
    if (!this.hooks.beforeWrite && !this.hooks.beforeDelete) return fn();
    const prev = this.#tail.get(def.plural) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.#tail.set(def.plural, tail);
    tail.then(() => {
      if (this.#tail.get(def.plural) === tail) this.#tail.delete(def.plural);
    });
    return run;
  }

  async get(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
  ): Promise<KubeObject> {
    const e = await this.store.get(storeKey(def, ns, name));
    if (!e) throw ApiError.notFound(def.plural, name);
    return decode(def, e);
  }

  /** Objects of `def` (in `ns`), optionally one page at a revision. */
  async list(
    def: ResourceDef,
    ns: string | undefined,
    opts: { revision?: number; after?: string; limit?: number } = {},
  ): Promise<ListPage> {
    let r;
    try {
      r = await this.store.list(listPrefix(def, ns), opts);
    } catch (e) {
      throw toApiError(e, def.plural);
    }
    return {
      items: r.entries.map((e) => decode(def, e)),
      revision: r.revision,
      lastKey: r.entries.at(-1)?.key,
      more: r.more,
    };
  }

  /**
   * Deletes the objects of a kind with a TTL that have expired; at most
   * once per SWEEP_INTERVAL_MS per prefix unless `force`. Returns how many.
   */
  async expire(def: ResourceDef, now = Date.now(), force = false) {
    if (!def.ttl) return 0;
    const last = this.#swept.get(def.prefix) ?? -Infinity;
    if (!force && now - last < SWEEP_INTERVAL_MS) return 0;
    this.#swept.set(def.prefix, now);
    const { items } = await this.list(def, undefined);
    let n = 0;
    for (const o of items) {
      const t = Date.parse(def.ttl.since(o));
      if (!Number.isNaN(t) && now - t < def.ttl.ms) continue;
      const m = o.metadata;
      try {
        await this.delete(def, m.namespace, m.name!, {
          resourceVersion: parseRv(m.resourceVersion),
        });
        n++;
      } catch {
        // changed or gone meanwhile: the next sweep looks again
      }
    }
    return n;
  }

  /** 404 unless namespace `ns` exists; the compare keeps it so until the
   * write commits. */
  async #namespaceCompare(
    def: ResourceDef,
    ns: string | undefined,
  ): Promise<Compare[]> {
    if (!def.namespaced || ns === undefined) return [];
    const key = storeKey(NAMESPACES, undefined, ns);
    const e = await this.store.get(key);
    if (!e) throw ApiError.notFound("namespaces", ns);
    return [{ key, modRevision: e.modRevision }];
  }

  create(
    def: ResourceDef,
    input: KubeObject,
    o: WriteOptions = {},
  ): Promise<KubeObject> {
    return this.#serial(def, () => this.#create(def, input, o));
  }

  async #create(
    def: ResourceDef,
    input: KubeObject,
    o: WriteOptions,
  ): Promise<KubeObject> {
    const obj = structuredClone(input);
    const m = obj.metadata;
    if (!m.name && m.generateName) m.name = m.generateName + nameSuffix();
    def.prepare?.(obj, null);
    validateMeta(def.kind, obj);
    if (m.resourceVersion) {
      throw ApiError.badRequest(
        "resourceVersion should not be set on objects to be created",
      );
    }
    if (!def.namespaced) delete m.namespace;
    m.uid = crypto.randomUUID();
    m.creationTimestamp = nowTimestamp();
    m.generation = 1;
    delete m.deletionTimestamp;
    obj.kind = def.kind;
    obj.apiVersion = groupVersion(def);
    const key = storeKey(def, m.namespace, m.name!);
    for (let i = 0; i < MAX_RETRIES; i++) {
      const nsCompare = await this.#namespaceCompare(def, m.namespace);
      // The hook fills in what it chose: each attempt starts from the input
      // again, so a retry does not take an earlier pick for a request.
      const attempt = structuredClone(obj);
      const extra = (await this.hooks.beforeWrite?.(def, null, attempt)) ??
        NO_EXTRA;
      if (o.dryRun) {
        if (await this.store.get(key)) throw alreadyExists(def, m.name!);
        return attempt;
      }
      const r = await this.store.txn(
        [{ key, modRevision: 0 }, ...nsCompare, ...extra.compares],
        [{ type: "put", key, value: encode(def, attempt) }, ...extra.ops],
      );
      if (r.succeeded) {
        const created = decode(def, r.results[0]!);
        await this.hooks.afterWrite?.(def, null, created);
        return created;
      }
      if (r.failed?.key === key) {
        throw alreadyExists(def, m.name!);
      }
    }
    throw new ApiError(
      409,
      "Conflict",
      `could not create ${def.plural} "${m.name}": too many concurrent changes; try again`,
    );
  }

  /**
   * Read-modify-write. `mutate` gets the current object and returns the new
   * one; if that carries a resourceVersion it must be the current one
   * (409 otherwise), else the write retries on concurrent changes.
   */
  update(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    mutate: (old: KubeObject) => KubeObject,
    o: WriteOptions = {},
  ): Promise<KubeObject> {
    return this.#serial(def, () => this.#update(def, ns, name, mutate, o));
  }

  async #update(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    mutate: (old: KubeObject) => KubeObject,
    o: WriteOptions,
  ): Promise<KubeObject> {
    const key = storeKey(def, ns, name);
    for (let i = 0; i < MAX_RETRIES; i++) {
      const entry = await this.store.get(key);
      if (!entry) throw ApiError.notFound(def.plural, name);
      const old = decode(def, entry);
      const obj = structuredClone(mutate(structuredClone(old)));
      if (typeof obj.metadata !== "object" || obj.metadata === null) {
        throw ApiError.badRequest("metadata must be an object");
      }
      const sentRv = parseRv(obj.metadata.resourceVersion);
      if (sentRv !== undefined && sentRv !== entry.modRevision) {
        throw ApiError.conflict(def.plural, name);
      }
      if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
        throw ApiError.badRequest(
          `the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`,
        );
      }
      if (
        def.namespaced && obj.metadata.namespace !== undefined &&
        obj.metadata.namespace !== ns
      ) {
        throw ApiError.badRequest(
          `the namespace of the object (${obj.metadata.namespace}) does not match the namespace on the URL (${ns})`,
        );
      }
      const m = obj.metadata;
      m.name = name;
      if (def.namespaced) m.namespace = ns;
      else delete m.namespace;
      m.uid = old.metadata.uid;
      m.creationTimestamp = old.metadata.creationTimestamp;
      m.generation = old.metadata.generation ?? 1;
      if (
        JSON.stringify(obj.spec ?? null) !== JSON.stringify(old.spec ?? null)
      ) {
        m.generation++;
      }
      obj.kind = def.kind;
      obj.apiVersion = groupVersion(def);
      def.prepare?.(obj, old);
      validateMeta(def.kind, obj);
      const extra = (await this.hooks.beforeWrite?.(def, old, obj)) ??
        NO_EXTRA;
      if (o.dryRun) {
        obj.metadata.resourceVersion = String(entry.modRevision);
        return obj;
      }
      const r = await this.store.txn(
        [{ key, modRevision: entry.modRevision }, ...extra.compares],
        [{ type: "put", key, value: encode(def, obj) }, ...extra.ops],
      );
      if (r.succeeded) {
        const updated = decode(def, r.results[0]!);
        await this.hooks.afterWrite?.(def, old, updated);
        return updated;
      }
      if (r.failed?.key === key && sentRv !== undefined) {
        throw ApiError.conflict(def.plural, name);
      }
    }
    throw ApiError.conflict(def.plural, name);
  }

  delete(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    pre: { resourceVersion?: number; uid?: string } = {},
    o: WriteOptions = {},
  ): Promise<KubeObject> {
    return this.#serial(def, () => this.#delete(def, ns, name, pre, o));
  }

  async #delete(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    pre: { resourceVersion?: number; uid?: string },
    o: WriteOptions,
  ): Promise<KubeObject> {
    if (def.undeletable?.includes(name)) {
      throw new ApiError(
        403,
        "Forbidden",
        `${def.plural} "${name}" is forbidden: this ${def.singular} may not be deleted`,
        { name, kind: def.plural },
      );
    }
    const key = storeKey(def, ns, name);
    for (let i = 0; i < MAX_RETRIES; i++) {
      const entry = await this.store.get(key);
      if (!entry) throw ApiError.notFound(def.plural, name);
      const old = decode(def, entry);
      if (
        (pre.resourceVersion !== undefined &&
          pre.resourceVersion !== entry.modRevision) ||
        (pre.uid !== undefined && pre.uid !== old.metadata.uid)
      ) {
        throw ApiError.conflict(def.plural, name);
      }
      const extra = (await this.hooks.beforeDelete?.(def, old)) ??
        NO_EXTRA;
      if (o.dryRun) return old;
      const r = await this.store.txn(
        [{ key, modRevision: entry.modRevision }, ...extra.compares],
        [{ type: "delete", key }, ...extra.ops],
      );
      if (r.succeeded) return decode(def, r.results[0]!);
    }
    throw ApiError.conflict(def.plural, name);
  }

  /** Object events after `fromRevision` (store errors map to Status). */
  watch(
    def: ResourceDef,
    ns: string | undefined,
    fromRevision: number,
    signal: AbortSignal,
  ): AsyncIterable<ObjectEvent> {
    let events: AsyncIterableIterator<StoreEvent>;
    try {
      events = this.store.watch(listPrefix(def, ns), { fromRevision, signal });
    } catch (e) {
      throw toApiError(e, def.plural);
    }
    return (async function* () {
      try {
        for await (const ev of events) yield decodeEvent(def, ev);
      } catch (e) {
        throw toApiError(e, def.plural);
      }
    })();
  }
}
