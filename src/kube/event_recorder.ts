// Best-effort, bounded event recording (client-go's EventRecorder and
// EventCorrelator, small): record() never throws and never waits; events go
// out one at a time from a bounded queue (full: dropped); an event equal to
// one recorded in the last 10 minutes (same object, reason, type, message)
// bumps that event's `count` and `lastTimestamp` instead of creating a new
// one; each object gets a burst of 25 sends (created or bumped) then one
// per 5 minutes; a failed send is tried again 6 times, 5 s apart.

import { eventsRecorded } from "../metrics/mod.ts";
import type { KubeClient } from "./client.ts";
import { type CoreEvent, type EventSpec, newEvent } from "./events.ts";

/** Where events go: the API over HTTP, or the server's own registry. */
export interface EventSink {
  create(ev: CoreEvent): Promise<unknown>;
  /** Sets count and lastTimestamp of an event created earlier. */
  bump(ev: CoreEvent): Promise<unknown>;
}

export type EventOutcome = "created" | "aggregated" | "dropped" | "failed";

export interface EventRecorderOptions {
  /** Reporting component ("weft-agent", "weft-server"). */
  component: string;
  /** The node reporting (agents). */
  host?: string;
  log?: (msg: string) => void;
  /** Called once per event with what became of it (weft_events_total
   * counts it too). */
  outcome?: (o: EventOutcome, spec: EventSpec) => void;
  /** Queued events at most (default 100). */
  maxQueue?: number;
  /** Events per object before the rate limit (default 25). */
  burst?: number;
  /** One more event per object per this long (default 5 min). */
  refillMs?: number;
  /** Equal events within this long are aggregated (default 10 min). */
  aggregateMs?: number;
  /** A send that failed is tried again this many times (default 6)... */
  retries?: number;
  /** ...this long apart (default 5 s): a server that was down or a
   * credential being renewed still gets the event. */
  retryMs?: number;
  now?: () => number;
}

const MAX_KEYS = 1024;

interface Recent {
  ev: CoreEvent;
  at: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A map that forgets its oldest entry beyond MAX_KEYS. */
function remember<K, V>(m: Map<K, V>, k: K, v: V): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > MAX_KEYS) m.delete(m.keys().next().value as K);
}

export class EventRecorder {
  #sink: EventSink;
  #o: Required<Omit<EventRecorderOptions, "host">> & { host?: string };
  #queue: { spec: EventSpec; tries: number }[] = [];
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  #running: Promise<void> | null = null;
  #recent = new Map<string, Recent>();
  #buckets = new Map<string, Bucket>();

  constructor(sink: EventSink, opts: EventRecorderOptions) {
    this.#sink = sink;
    this.#o = {
      log: () => {},
      outcome: () => {},
      maxQueue: 100,
      burst: 25,
      refillMs: 300_000,
      aggregateMs: 600_000,
      retries: 6,
      retryMs: 5_000,
      now: Date.now,
      ...opts,
    };
    const report = this.#o.outcome;
    this.#o.outcome = (o, spec) => {
      eventsRecorded.inc({ outcome: o });
      report(o, spec);
    };
  }

  /** Queues the event; returns at once (never throws). */
  record(spec: Omit<EventSpec, "component" | "host">): void {
    const full: EventSpec = {
      ...spec,
      component: this.#o.component,
      host: this.#o.host,
    };
    this.#enqueue(full, 0);
  }

  #enqueue(spec: EventSpec, tries: number): void {
    if (this.#closed || this.#queue.length >= this.#o.maxQueue) {
      this.#o.outcome("dropped", spec);
      return;
    }
    this.#queue.push({ spec, tries });
    this.#running ??= this.#drain().finally(() => this.#running = null);
  }

  /** Stops: queued events still go out, retries waiting are dropped. */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  /** Resolves once every queued event has been sent (or given up). */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    for (let item = this.#queue.shift(); item; item = this.#queue.shift()) {
      const { spec, tries } = item;
      try {
        this.#o.outcome(await this.#send(spec), spec);
      } catch (e) {
        if (tries < this.#o.retries && !this.#closed) {
          const t = setTimeout(() => {
            this.#timers.delete(t);
            this.#enqueue(spec, tries + 1);
          }, this.#o.retryMs);
          Deno.unrefTimer(t);
          this.#timers.add(t);
          continue;
        }
        this.#o.outcome("failed", spec);
        this.#o.log(
          `event ${spec.reason} about ${spec.regarding.kind} ${spec.regarding.name}: ${
            (e as Error).message
          }`,
        );
      }
    }
  }

  #allowed(object: string, now: number): boolean {
    const b = this.#buckets.get(object) ?? { tokens: this.#o.burst, at: now };
    const gained = Math.floor((now - b.at) / this.#o.refillMs);
    const refilled = Math.min(this.#o.burst, b.tokens + gained);
    // A full bucket starts refilling from its first use.
    const at = refilled === this.#o.burst
      ? now
      : b.at + gained * this.#o.refillMs;
    if (refilled < 1) {
      remember(this.#buckets, object, { tokens: refilled, at });
      return false;
    }
    remember(this.#buckets, object, { tokens: refilled - 1, at });
    return true;
  }

  async #send(spec: EventSpec): Promise<EventOutcome> {
    const now = this.#o.now();
    const r = spec.regarding;
    const object = `${r.kind}/${r.namespace ?? ""}/${r.name}`;
    const key = `${object}\u0000${spec.reason}\u0000${
      spec.type ?? "Normal"
    }\u0000${spec.message}`;
    if (!this.#allowed(object, now)) return "dropped";
    const seen = this.#recent.get(key);
    if (seen && now - seen.at < this.#o.aggregateMs) {
      const ev: CoreEvent = {
        ...seen.ev,
        count: seen.ev.count + 1,
        lastTimestamp: newEvent(spec, new Date(now)).lastTimestamp,
      };
      remember(this.#recent, key, { ev, at: now });
      try {
        await this.#sink.bump(ev);
        return "aggregated";
      } catch {
        // expired or deleted meanwhile: a new event below
      }
    }
    const ev = newEvent(spec, new Date(now));
    await this.#sink.create(ev);
    remember(this.#recent, key, { ev, at: now });
    return "created";
  }
}

/** Events through the API (an agent's node credential may create and
 * patch events); `client` may be a function giving the current client. */
export function kubeEventSink(
  client: KubeClient | (() => KubeClient),
): EventSink {
  const c = typeof client === "function" ? client : () => client;
  const path = (ev: CoreEvent) =>
    `/api/v1/namespaces/${encodeURIComponent(ev.metadata.namespace)}/events`;
  return {
    create: (ev) => c().create(path(ev), ev),
    bump: (ev) =>
      c().patch(
        `${path(ev)}/${encodeURIComponent(ev.metadata.name)}`,
        { count: ev.count, lastTimestamp: ev.lastTimestamp },
      ),
  };
}
