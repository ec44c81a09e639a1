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
import { listPrefix, type ResourceDef, storeKey } from "./resources.ts";

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
}

export interface ObjectEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: KubeObject;
  prev: KubeObject | null;
  revision: number;
}

const MAX_RETRIES = 20;

// The store hands the same event object to every watcher of a prefix:
// decode it once for all of them. Consumers must not mutate the result.
const decodedEvents = new WeakMap<StoreEvent, ObjectEvent>();

function decodeEvent(def: ResourceDef, ev: StoreEvent): ObjectEvent {
  let out = decodedEvents.get(ev);
  if (!out) {
    const prev = ev.prev ? decode(def, ev.prev) : null;
    out = {
      type: ev.type === "delete" ? "DELETED" : prev ? "MODIFIED" : "ADDED",
      object: decode(def, ev.entry),
      prev,
      revision: ev.revision,
    };
    decodedEvents.set(ev, out);
  }
  return out;
}

export function decode(def: ResourceDef, e: Entry): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = JSON.parse(
    e.value,
  ) as KubeObject;
  const out = { apiVersion: "v1", kind: def.kind, ...rest } as KubeObject;
  out.metadata.resourceVersion = String(e.modRevision);
  return out;
}

function encode(obj: KubeObject): string {
  const copy = { ...obj, metadata: { ...obj.metadata } };
  delete copy.metadata.resourceVersion;
  copy.apiVersion = "v1";
  return JSON.stringify(copy);
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

export class Registry {
  #tail = new Map<string, Promise<unknown>>();

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

  async list(def: ResourceDef, ns: string | undefined) {
    const r = await this.store.list(listPrefix(def, ns));
    return {
      items: r.entries.map((e) => decode(def, e)),
      revision: r.revision,
    };
  }

  create(def: ResourceDef, input: KubeObject): Promise<KubeObject> {
    return this.#serial(def, () => this.#create(def, input));
  }

  async #create(def: ResourceDef, input: KubeObject): Promise<KubeObject> {
    const obj = structuredClone(input);
    const m = obj.metadata;
    if (!m.name && m.generateName) m.name = m.generateName + nameSuffix();
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
    const key = storeKey(def, m.namespace, m.name!);
    for (let i = 0; i < MAX_RETRIES; i++) {
      // The hook fills in what it chose: each attempt starts from the input
      // again, so a retry does not take an earlier pick for a request.
      const attempt = structuredClone(obj);
      const extra = (await this.hooks.beforeWrite?.(def, null, attempt)) ??
        { compares: [], ops: [] };
      const r = await this.store.txn(
        [{ key, modRevision: 0 }, ...extra.compares],
        [{ type: "put", key, value: encode(attempt) }, ...extra.ops],
      );
      if (r.succeeded) return decode(def, r.results[0]!);
      if (r.failed?.key === key) {
        throw new ApiError(
          409,
          "AlreadyExists",
          `${def.plural} "${m.name}" already exists`,
          { name: m.name, kind: def.plural },
        );
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
  ): Promise<KubeObject> {
    return this.#serial(def, () => this.#update(def, ns, name, mutate));
  }

  async #update(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    mutate: (old: KubeObject) => KubeObject,
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
      validateMeta(def.kind, obj);
      const extra = (await this.hooks.beforeWrite?.(def, old, obj)) ??
        { compares: [], ops: [] };
      const r = await this.store.txn(
        [{ key, modRevision: entry.modRevision }, ...extra.compares],
        [{ type: "put", key, value: encode(obj) }, ...extra.ops],
      );
      if (r.succeeded) return decode(def, r.results[0]!);
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
  ): Promise<KubeObject> {
    return this.#serial(def, () => this.#delete(def, ns, name, pre));
  }

  async #delete(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    pre: { resourceVersion?: number; uid?: string },
  ): Promise<KubeObject> {
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
        { compares: [], ops: [] };
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
