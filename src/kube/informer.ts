// A reflector: lists a collection, then watches it from the list's
// resourceVersion; on a dropped stream it waits (capped exponential backoff)
// and resumes from the last resourceVersion seen; on 410 Gone it relists and
// reconciles its cache, emitting added/updated/deleted for the differences.

import type { KubeClient, Selectors } from "./client.ts";
import { KubeError } from "./errors.ts";
import type { KubeObject } from "./types.ts";
import { sleep } from "../util/async.ts";

export interface InformerHandlers<T> {
  added?(obj: T): void | Promise<void>;
  updated?(obj: T, old: T): void | Promise<void>;
  deleted?(obj: T): void | Promise<void>;
  /** After each (re)list has been reconciled into the cache. */
  synced?(): void | Promise<void>;
  /** A list or watch failed; the informer retries after a backoff. */
  error?(e: unknown): void;
}

export interface InformerOptions<T = KubeObject> extends Selectors {
  signal?: AbortSignal;
  /** First retry delay; default 500 ms. */
  initialBackoffMs?: number;
  /** Retry delay cap; default 30 s. */
  maxBackoffMs?: number;
  /**
   * What the cache keeps of each object, and what the handlers get (default:
   * the object as listed or watched). A cache of a cluster-wide collection
   * holds every object for the process's life: keep only the fields used.
   * The result must keep metadata's name, namespace and resourceVersion.
   */
  slim?: (obj: T) => T;
}

export interface Informer<T> {
  /** Objects by `namespace/name` (or `name`), as last seen. */
  readonly cache: ReadonlyMap<string, T>;
  /** The resourceVersion the next watch resumes from. */
  readonly resourceVersion: string;
  /** Resolves after the first list is reconciled, or when the informer
   * stops before that (check `signal.aborted`), so awaiting it never hangs. */
  readonly synced: Promise<void>;
  /** Resolves when the signal aborts and the loop has stopped. */
  readonly done: Promise<void>;
}

export function keyOf(obj: KubeObject): string {
  const m = obj.metadata;
  return m.namespace ? `${m.namespace}/${m.name}` : `${m.name}`;
}

export function startInformer<T extends KubeObject>(
  client: KubeClient,
  path: string,
  h: InformerHandlers<T>,
  o: InformerOptions<T> = {},
): Informer<T> {
  const cache = new Map<string, T>();
  const slim = o.slim ?? ((x: T) => x);
  const sel = {
    labelSelector: o.labelSelector,
    fieldSelector: o.fieldSelector,
  };
  const initial = o.initialBackoffMs ?? 500;
  const max = o.maxBackoffMs ?? 30_000;
  let rv = "";
  let markSynced!: () => void;
  const synced = new Promise<void>((r) => markSynced = r);

  async function relist(): Promise<void> {
    const list = await client.list<T>(path, { ...sel, signal: o.signal });
    const seen = new Set<string>();
    for (const item of list.items) {
      const obj = slim(item);
      const k = keyOf(obj);
      seen.add(k);
      const old = cache.get(k);
      cache.set(k, obj);
      if (!old) await h.added?.(obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) {
        await h.updated?.(obj, old);
      }
    }
    for (const [k, old] of [...cache]) {
      if (seen.has(k)) continue;
      cache.delete(k);
      await h.deleted?.(old);
    }
    rv = list.resourceVersion;
    await h.synced?.();
    markSynced();
  }

  async function watchOnce(): Promise<boolean> {
    let progressed = false;
    for await (
      const ev of client.watch<T>(path, {
        ...sel,
        resourceVersion: rv,
        allowWatchBookmarks: true,
        signal: o.signal,
      })
    ) {
      progressed = true;
      const evRv = ev.object.metadata?.resourceVersion;
      if (ev.type === "BOOKMARK") {
        if (evRv) rv = evRv;
        continue;
      }
      const obj = slim(ev.object);
      const k = keyOf(obj);
      const old = cache.get(k);
      if (ev.type === "DELETED") {
        cache.delete(k);
        await h.deleted?.(obj);
      } else {
        cache.set(k, obj);
        if (old) await h.updated?.(obj, old);
        else await h.added?.(obj);
      }
      if (evRv) rv = evRv;
    }
    return progressed;
  }

  async function loop(): Promise<void> {
    let needList = true;
    let backoff = initial;
    while (!o.signal?.aborted) {
      try {
        if (needList) {
          await relist();
          needList = false;
          backoff = initial;
        }
        if (await watchOnce()) {
          backoff = initial;
          continue;
        }
      } catch (e) {
        if (o.signal?.aborted) break;
        if (e instanceof KubeError && e.isGone) {
          needList = true;
          continue;
        }
        h.error?.(e);
      }
      await sleep(backoff, o.signal);
      backoff = Math.min(backoff * 2, max);
    }
  }

  const done = loop().finally(() => markSynced());
  return {
    cache,
    get resourceVersion() {
      return rv;
    },
    synced,
    done,
  };
}
