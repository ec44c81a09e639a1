// The streamed watch response: one JSON object per line,
// {"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}. Selector
// transitions become ADDED/DELETED as the Kubernetes watch cache does; a
// reader that falls too far behind gets an ERROR (410) and the stream ends.
// Pull-based, so a slow reader applies backpressure down to the store.
// Every watch ends: after timeoutSeconds, at most after a jittered server
// maximum (kube-apiserver's --min-request-timeout), and when the caller's
// credential is revoked.

import { watchOpened } from "./metrics.ts";
import { type ApiError, toApiError } from "./errors.ts";
import type { Json, KubeObject } from "./object.ts";
import type { ObjectEvent, Registry } from "./registry.ts";
import { groupVersion, type ResourceDef } from "./resources.ts";
import { toTable } from "./table.ts";

export interface WatchRequest {
  registry: Registry;
  def: ResourceDef;
  namespace?: string;
  /** Events after this revision; undefined = current state as ADDED first. */
  resourceVersion?: number;
  match: (obj: KubeObject) => boolean;
  /** Render objects as one-row Tables (kubectl get -w). */
  table?: { includeObject: string };
  bookmarks: boolean;
  bookmarkIntervalMs: number;
  /** Ends the stream after this long (timeoutSeconds; 0 = not given). */
  timeoutMs?: number;
  /** The server's minimum request timeout (default 1800 s): see
   * watchLifetimeMs(). */
  minRequestTimeoutMs?: number;
  /** Aborts when the caller's credential is revoked: the stream ends. */
  revoked?: AbortSignal;
  /** sendInitialEvents=true: a bookmark marks the end of the initial ADDED. */
  initialEventsEnd: boolean;
  /** Server shutdown. */
  signal?: AbortSignal;
}

type WatchType = "ADDED" | "MODIFIED" | "DELETED";

/** kube-apiserver's --min-request-timeout default. */
export const MIN_REQUEST_TIMEOUT_MS = 1_800_000;

/**
 * How long a watch may run: as kube-apiserver, a watch without
 * timeoutSeconds ends after a random time in [min, 2 min), which spreads
 * the reconnects of many clients; an explicit timeoutSeconds is honoured up
 * to 2 min (kube-apiserver has no upper bound; weft keeps every watch
 * finite, so that no connection outlives the server's limits).
 */
export function watchLifetimeMs(
  requestedMs: number | undefined,
  minMs = MIN_REQUEST_TIMEOUT_MS,
  random: () => number = Math.random,
): number {
  const max = 2 * minMs;
  if (requestedMs !== undefined && requestedMs > 0) {
    return Math.min(requestedMs, max);
  }
  return Math.min(minMs * (1 + random()), max - 1);
}

/** The event to send for a store event under a selector, or null. */
function filterEvent(
  ev: ObjectEvent,
  match: (o: KubeObject) => boolean,
): { type: WatchType; object: KubeObject } | null {
  const now = match(ev.object);
  const before = ev.prev !== null && match(ev.prev);
  switch (ev.type) {
    case "ADDED":
      return now ? { type: "ADDED", object: ev.object } : null;
    case "DELETED":
      return (ev.prev ? before : now)
        ? { type: "DELETED", object: ev.object }
        : null;
    case "MODIFIED":
      if (now && before) return { type: "MODIFIED", object: ev.object };
      if (now) return { type: "ADDED", object: ev.object };
      if (before) return { type: "DELETED", object: ev.object };
      return null;
  }
}

/**
 * Opens the watch (throws ApiError, e.g. 410 for a compacted
 * resourceVersion, before any byte is sent) and returns the streaming
 * Response.
 */
export async function watchResponse(w: WatchRequest): Promise<Response> {
  const ac = new AbortController();
  const lifetime = watchLifetimeMs(w.timeoutMs, w.minRequestTimeoutMs);
  const signals = [ac.signal];
  if (w.signal) signals.push(w.signal);
  if (w.revoked) signals.push(w.revoked);
  const signal = AbortSignal.any(signals);

  const initial: string[] = [];
  let from = w.resourceVersion;
  if (from === undefined) {
    const { items, revision } = await w.registry.list(w.def, w.namespace);
    for (const o of items) if (w.match(o)) initial.push(line("ADDED", o, w));
    from = revision;
    if (w.initialEventsEnd && w.bookmarks) {
      initial.push(bookmark(w, revision, true));
    }
  }
  const events = w.registry.watch(w.def, w.namespace, from, signal)[
    Symbol.asyncIterator
  ]();
  // A timer of our own (not AbortSignal.timeout): it is cleared when the
  // watch ends, instead of outliving it by up to an hour.
  const lifetimeTimer = setTimeout(() => ac.abort(), lifetime);
  ac.signal.addEventListener("abort", () => clearTimeout(lifetimeTimer), {
    once: true,
  });
  const closed = watchOpened(w.def.group, w.def.plural);
  if (signal.aborted) closed();
  else signal.addEventListener("abort", closed, { once: true });
  let lastRevision = from;
  // The store ends the event stream when `signal` aborts: `pending` then
  // resolves done (no promise per pull waits on the signal itself).
  let pending: Promise<IteratorResult<ObjectEvent>> | null = null;
  const enc = new TextEncoder();

  const body = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (initial.length > 0) {
        controller.enqueue(enc.encode(initial.splice(0).join("")));
        return;
      }
      while (true) {
        pending ??= events.next();
        let timer: ReturnType<typeof setTimeout> | undefined;
        let r: IteratorResult<ObjectEvent> | "tick";
        try {
          r = w.bookmarks
            ? await Promise.race([
              pending,
              new Promise<"tick">((resolve) => {
                timer = setTimeout(
                  () => resolve("tick"),
                  w.bookmarkIntervalMs,
                );
              }),
            ])
            : await pending;
        } catch (e) {
          const err: ApiError = toApiError(e, w.def.plural);
          controller.enqueue(enc.encode(
            JSON.stringify({ type: "ERROR", object: err.toStatus() }) + "\n",
          ));
          finish(controller);
          return;
        } finally {
          clearTimeout(timer);
        }
        if (r === "tick") {
          controller.enqueue(enc.encode(bookmark(w, lastRevision, false)));
          return;
        }
        pending = null;
        if (r.done) {
          finish(controller);
          return;
        }
        lastRevision = r.value.revision;
        const out = filterEvent(r.value, w.match);
        if (out) {
          controller.enqueue(enc.encode(line(out.type, out.object, w)));
          return;
        }
      }
    },
    cancel: () => ac.abort(),
  }, { highWaterMark: 0 });

  function finish(controller: ReadableStreamDefaultController<Uint8Array>) {
    ac.abort();
    events.return?.();
    try {
      controller.close();
    } catch {
      // already closed by a cancel
    }
  }

  return new Response(body, {
    headers: {
      "content-type": "application/json",
      "cache-control": "no-cache, private",
    },
  });
}

function render(o: KubeObject, w: WatchRequest): Json {
  if (!w.table) return o as unknown as Json;
  return toTable(
    w.def,
    [o],
    o.metadata.resourceVersion,
    w.table.includeObject,
  ) as unknown as Json;
}

// Watchers share decoded objects (see registry.ts); share the encoded JSON
// lines too. Table rows are not shared: their AGE cell depends on the time.
const encodedLines = new WeakMap<
  KubeObject,
  Partial<Record<WatchType, string>>
>();

function line(type: WatchType, o: KubeObject, w: WatchRequest): string {
  if (w.table) return JSON.stringify({ type, object: render(o, w) }) + "\n";
  let byType = encodedLines.get(o);
  if (!byType) encodedLines.set(o, byType = {});
  return byType[type] ??= JSON.stringify({ type, object: o }) + "\n";
}

function bookmark(w: WatchRequest, revision: number, end: boolean): string {
  const metadata: Record<string, Json> = { resourceVersion: String(revision) };
  if (end) metadata.annotations = { "k8s.io/initial-events-end": "true" };
  return JSON.stringify({
    type: "BOOKMARK",
    object: { kind: w.def.kind, apiVersion: groupVersion(w.def), metadata },
  }) + "\n";
}
