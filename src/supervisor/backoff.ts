// Exponential restart backoff: initial, doubled per failure, capped.

export interface BackoffOptions {
  /** First delay in ms (default 1000). */
  initialMs?: number;
  /** Upper bound in ms (default 30000). */
  maxMs?: number;
}

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  #next: number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 1000;
    this.maxMs = opts.maxMs ?? 30_000;
    if (!(this.initialMs > 0) || !(this.maxMs >= this.initialMs)) {
      throw new RangeError(
        `backoff needs 0 < initialMs <= maxMs, got ${this.initialMs} and ${this.maxMs}`,
      );
    }
    this.#next = this.initialMs;
  }

  /** The delay before the next restart; each call doubles the following one. */
  next(): number {
    const d = this.#next;
    this.#next = Math.min(this.#next * 2, this.maxMs);
    return d;
  }

  /** Back to the initial delay (after a run that stayed up long enough). */
  reset(): void {
    this.#next = this.initialMs;
  }
}
