// Client-side load balancing over the cluster's API servers, as K3s runs on
// each agent: requests go to the current server; when one cannot be reached
// the next healthy one takes over, and the failed one rests for a while.
// The list is learned from the servers themselves (`GET /v1-weft/servers`);
// the address the agent was started with stays in it as the fallback.

/** How long a server that failed is skipped (unless all are failing). */
export const FAILED_REST_MS = 15_000;
/** Bound on the servers kept (the answer is input from the network). */
export const MAX_SERVERS = 32;

export class Balancer {
  readonly #fallback: string;
  #servers: string[];
  #learned: string[] = [];
  #current = 0;
  #restUntil = new Map<string, number>();
  #listeners = new Set<(servers: string[]) => void>();

  /** `fallback`: the --server URL; always kept in the list. */
  constructor(fallback: string) {
    this.#fallback = normalize(fallback);
    this.#servers = [this.#fallback];
  }

  /** Every known server, in a stable order. */
  get servers(): string[] {
    return [...this.#servers];
  }

  /** The servers as last reported by the cluster (without the fallback
   * unless listed); the fallback alone before any report. */
  get learned(): string[] {
    return this.#learned.length ? [...this.#learned] : [this.#fallback];
  }

  /** The server requests go to now. */
  current(): string {
    return this.#servers[this.#current] ?? this.#fallback;
  }

  /** `server` could not be reached: move to the next healthy one (or, when
   * every server failed just now, simply the next). Returns it. */
  failed(server: string, now = Date.now()): string {
    this.#restUntil.set(normalize(server), now + FAILED_REST_MS);
    const n = this.#servers.length;
    for (let i = 1; i <= n; i++) {
      const j = (this.#current + i) % n;
      const s = this.#servers[j];
      if ((this.#restUntil.get(s) ?? 0) <= now) {
        this.#current = j;
        return s;
      }
    }
    this.#current = (this.#servers.indexOf(normalize(server)) + 1) % n;
    return this.current();
  }

  /** Replaces the known servers (keeping the current one when still listed). */
  update(servers: string[]): void {
    const cur = this.current();
    const before = this.learned.join(",");
    this.#learned = [
      ...new Set(
        servers.slice(0, MAX_SERVERS).flatMap((s) => {
          try {
            return [normalize(s)];
          } catch {
            return [];
          }
        }),
      ),
    ].sort();
    const next = [...new Set([...this.#learned, this.#fallback])].sort();
    this.#servers = next;
    this.#current = Math.max(0, next.indexOf(cur));
    if (this.learned.join(",") !== before) {
      for (const l of this.#listeners) l(this.learned);
    }
  }

  /** Called with the new list whenever the learned servers change. */
  onChange(listener: (servers: string[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** `https://host:port` with no trailing path; TypeError when not https. */
function normalize(server: string): string {
  const u = new URL(server);
  if (u.protocol !== "https:") {
    throw new TypeError(`server ${JSON.stringify(server)} is not https://`);
  }
  return u.origin;
}
