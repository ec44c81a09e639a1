// One etcd watch per key prefix, shared by every watcher of that prefix in
// this server (kube-apiserver's watch cache, in small): the events of the
// last BUFFER revisions are kept, so a watcher starting from any of them is
// served from memory and then follows the shared stream; one starting
// earlier gets an etcd watch of its own (which also answers Gone for a
// compacted revision). Slow consumers get Gone from the hub, as on SQLite.

import type * as Etcd from "etcd3";
import type { EtcdErrors } from "./_etcd_errors.ts";
import { watchEtcd } from "./_etcd_watch.ts";
import { WatchHub } from "./_hub.ts";
import type { StoreEvent } from "./types.ts";

/** Events kept per shared prefix for watchers that start a little behind. */
export const BUFFER = 1000;

export class SharedWatch {
  readonly #hub: WatchHub;
  readonly #buffer: StoreEvent[] = [];
  readonly #stop = new AbortController();
  /** Events after this revision are all in the buffer or still to come. */
  #from: number;
  #users = 0;
  #ended = false;

  constructor(
    client: Etcd.Etcd3,
    errors: EtcdErrors,
    readonly prefix: string,
    fromRevision: number,
    closed: AbortSignal,
    queueLimit: number,
    readonly onIdle: () => void,
  ) {
    this.#from = fromRevision;
    this.#hub = new WatchHub(queueLimit);
    const source = watchEtcd(client, errors, {
      prefix,
      fromRevision,
      signal: this.#stop.signal,
      closed,
      queueLimit,
    });
    this.#pump(source);
  }

  async #pump(source: AsyncIterableIterator<StoreEvent>): Promise<void> {
    try {
      for await (const ev of source) {
        this.#buffer.push(ev);
        if (this.#buffer.length > BUFFER) {
          this.#from = this.#buffer.shift()!.revision;
        }
        this.#hub.publish(ev);
      }
      this.#hub.close();
    } catch (e) {
      this.#hub.fail(e as Error);
    } finally {
      this.#ended = true;
      this.onIdle();
    }
  }

  /** Whether a watcher from `fromRevision` can be served from here. */
  covers(fromRevision: number): boolean {
    return !this.#ended && fromRevision >= this.#from;
  }

  subscribe(
    fromRevision: number,
    signal?: AbortSignal,
  ): AsyncIterableIterator<StoreEvent> {
    const events = this.#hub.subscribe(
      this.prefix,
      fromRevision,
      () => this.#buffer.filter((e) => e.revision > fromRevision),
      signal,
    );
    this.#users++;
    // Released when the consumer ends, or when its signal aborts (also for
    // an iterator that was never started, whose finally never runs).
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      signal?.removeEventListener("abort", release);
      if (--this.#users === 0) this.close();
    };
    signal?.addEventListener("abort", release, { once: true });
    if (signal?.aborted) release();
    return (async function* () {
      try {
        yield* events;
      } finally {
        release();
      }
    })();
  }

  /** Stops the shared etcd watch (no more users, or the store closes). */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stop.abort();
    this.#hub.close();
    this.onIdle();
  }
}
