// Fan-out of committed events to live watchers. Each watcher has a bounded
// queue; one that falls further behind than the bound is ended with Gone
// (the Kubernetes client then relists), so a slow reader never grows memory.

import { Gone, StoreClosed } from "./errors.ts";
import type { StoreEvent } from "./types.ts";

interface Watcher {
  prefix: string;
  queue: StoreEvent[];
  wake: (() => void) | null;
  error: Error | null;
  done: boolean;
  /** Events at or below this revision are not for this watcher. */
  floor: number;
  lastRevision: number;
}

export class WatchHub {
  #watchers = new Set<Watcher>();
  #closed = false;

  constructor(readonly maxQueue: number) {}

  /** Delivers one committed event to every matching watcher. */
  publish(ev: StoreEvent): void {
    for (const w of this.#watchers) {
      if (w.done || !ev.entry.key.startsWith(w.prefix)) continue;
      // Several events may share a revision (an etcd transaction).
      if (ev.revision <= w.floor || ev.revision < w.lastRevision) continue;
      if (w.queue.length >= this.maxQueue) {
        w.error = new Gone(
          w.lastRevision,
          w.lastRevision,
          `watch fell more than ${this.maxQueue} events behind; relist`,
        );
        this.#finish(w);
        continue;
      }
      w.queue.push(ev);
      w.lastRevision = ev.revision;
      w.wake?.();
    }
  }

  /** Ends every watch (the store is closing). */
  close(): void {
    this.#closed = true;
    for (const w of this.#watchers) this.#finish(w);
  }

  /** Ends every watch with `error` (after the events already queued). */
  fail(error: Error): void {
    this.#closed = true;
    for (const w of this.#watchers) {
      w.error = error;
      this.#finish(w);
    }
  }

  /**
   * Registers a watcher, then calls `backlog()` synchronously (so no commit
   * can slip between the history read and the subscription) and yields the
   * backlog followed by live events.
   */
  subscribe(
    prefix: string,
    fromRevision: number,
    backlog: () => StoreEvent[],
    signal?: AbortSignal,
  ): AsyncIterableIterator<StoreEvent> {
    if (this.#closed) throw new StoreClosed();
    const w: Watcher = {
      prefix,
      queue: [],
      wake: null,
      error: null,
      done: false,
      floor: fromRevision,
      lastRevision: fromRevision,
    };
    w.queue = backlog();
    if (w.queue.length > 0) w.lastRevision = w.queue.at(-1)!.revision;
    this.#watchers.add(w);
    const onAbort = () => this.#finish(w);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) this.#finish(w);
    const finish = (x: Watcher) => this.#finish(x);
    async function* iterate(): AsyncGenerator<StoreEvent> {
      try {
        while (true) {
          if (w.queue.length > 0) {
            yield w.queue.shift()!;
            continue;
          }
          if (w.error) throw w.error;
          if (w.done) return;
          await new Promise<void>((resolve) => (w.wake = resolve));
          w.wake = null;
        }
      } finally {
        signal?.removeEventListener("abort", onAbort);
        finish(w);
      }
    }
    return iterate();
  }

  #finish(w: Watcher): void {
    w.done = true;
    this.#watchers.delete(w);
    w.wake?.();
  }

  get size(): number {
    return this.#watchers.size;
  }
}
