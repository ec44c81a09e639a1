// Repair passes on demand: changes that disagree with what weft programmed
// schedule one pass after a short debounce (a burst of changes costs one
// pass), a change that arrives during a pass schedules one more, and a
// writer that keeps undoing the repairs is met with a growing delay between
// passes (logged) instead of a loop that fights it at full speed.

/** Repairs in a row (each soon after the last) made without any delay. */
const FREE_REPAIRS = 5;
/** "Soon after": a repair this close to the previous one (plus its delay). */
const STREAK_GAP_MS = 250;
const FIRST_BACKOFF_MS = 100;

export interface RepairerOptions {
  /** Runs one pass; returns how many entries it wrote or removed. */
  pass: (why: string) => Promise<number>;
  log: (msg: string) => void;
  /** What is repaired, for log lines ("the dataplane", "the rules"). */
  what: string;
  /** Delay gathering a burst into one pass; default 10 ms. */
  debounceMs?: number;
  /** Longest delay between passes while backing off; default 5 s. */
  maxBackoffMs?: number;
}

export class Repairer implements Disposable {
  #o: Required<RepairerOptions>;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running = false;
  #closed = false;
  /** The first reason since the last pass, and how many changes came. */
  #pending: string | null = null;
  #changes = 0;
  /** Repairs in a row (each close to the previous), and when the last ended. */
  #streak = 0;
  #lastRepair = -Infinity;
  #delay: number;
  /** Passes run, and the last pass's promise (tests, bench). */
  passes = 0;
  idle: Promise<void> = Promise.resolve();

  constructor(opts: RepairerOptions) {
    this.#o = { debounceMs: 10, maxBackoffMs: 5_000, ...opts };
    this.#delay = this.#o.debounceMs;
  }

  /** A change disagreeing with the programmed state (`why`) was seen. */
  notify(why: string): void {
    if (this.#closed) return;
    this.#changes++;
    this.#pending ??= why;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== null || this.#running || this.#closed) return;
    if (
      this.#streak > 0 &&
      performance.now() - this.#lastRepair > this.#delay + STREAK_GAP_MS
    ) {
      this.#streak = 0; // quiet for long enough: the fight is over
      this.#relax();
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.idle = this.#run();
    }, this.#delay);
  }

  async #run(): Promise<void> {
    const why = this.#pending ?? "change";
    const changes = this.#changes;
    this.#pending = null;
    this.#changes = 0;
    this.#running = true;
    let wrote = 0;
    try {
      wrote = await this.#o.pass(
        changes > 1 ? `${why} (+${changes - 1} more changes)` : why,
      );
    } catch (e) {
      this.#o.log(`repairing ${this.#o.what}: ${(e as Error).message}`);
    } finally {
      this.#running = false;
      this.passes++;
    }
    this.#account(wrote);
    if (this.#pending !== null) this.#schedule();
  }

  /** Grows the delay while repairs keep following each other closely. */
  #account(wrote: number): void {
    const now = performance.now();
    if (wrote === 0) {
      this.#streak = 0;
    } else if (now - this.#lastRepair < this.#delay + STREAK_GAP_MS) {
      this.#streak++;
    } else {
      this.#streak = 1;
    }
    if (wrote > 0) this.#lastRepair = now;
    const before = this.#delay;
    this.#delay = this.#streak <= FREE_REPAIRS ? this.#o.debounceMs : Math.min(
      FIRST_BACKOFF_MS * 2 ** (this.#streak - FREE_REPAIRS - 1),
      this.#o.maxBackoffMs,
    );
    if (this.#delay > before) {
      this.#o.log(
        `event: something keeps changing ${this.#o.what} back (${this.#streak} repairs in a row); backing off: next repair in ${this.#delay} ms`,
      );
    } else if (this.#delay < before) {
      this.#delay = before;
      this.#relax();
    }
  }

  #relax(): void {
    if (this.#delay === this.#o.debounceMs) return;
    this.#delay = this.#o.debounceMs;
    this.#o.log(`${this.#o.what} is stable again; repairs are immediate`);
  }

  /** Cancels a scheduled pass; a running one finishes. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
