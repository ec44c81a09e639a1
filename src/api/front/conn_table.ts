// The front's bookkeeping of its connections: how many file descriptors they
// hold against a budget below the process's limit, and which of them may be
// closed to make room. A client cannot make the process run out of
// descriptors: when the budget is spent, the connection idle the longest
// (waiting for a head, or between requests) is closed; when none is, the new
// one is refused. Connections that have not sent a whole first request head
// yet are capped on their own, the oldest closed first.

/** One client connection as the table sees it. */
export interface Tracked {
  /** "ip:port" of the client, for log lines. */
  readonly peer: string;
  /** Closes the connection (and what it holds). */
  close(reason: string): void;
}

export interface ConnTableOptions {
  /** Descriptors the front may hold in all. */
  fdBudget: number;
  /** Connections without a complete first request head. */
  maxUnfinished: number;
  /** Called for every connection closed or refused to make room. */
  onShed: (what: string) => void;
}

export class ConnTable {
  #fds = new Map<Tracked, number>();
  #used = 0;
  /** Closable connections, the longest idle first (insertion order). */
  #idle = new Set<Tracked>();
  #unfinished = new Set<Tracked>();

  constructor(readonly opts: ConnTableOptions) {}

  /** Descriptors held now. */
  get used(): number {
    return this.#used;
  }

  get unfinished(): number {
    return this.#unfinished.size;
  }

  /** A new connection (one descriptor), waiting for its first head. False:
   * no room, the caller closes it. */
  admit(c: Tracked): boolean {
    this.#fds.set(c, 0);
    if (!this.reserve(c, 1)) {
      this.#fds.delete(c);
      this.opts.onShed(
        `refused a connection from ${c.peer}: no descriptors left`,
      );
      return false;
    }
    this.#unfinished.add(c);
    this.#idle.add(c);
    if (this.#unfinished.size > this.opts.maxUnfinished) {
      const [oldest] = this.#unfinished;
      this.opts.onShed(
        `closed the oldest of ${this.#unfinished.size} connections without a complete request head (${oldest.peer})`,
      );
      this.#drop(oldest);
      oldest.close("too many unfinished connections");
    }
    return true;
  }

  /** `n` more descriptors for `c`, closing idle connections to make room;
   * false (nothing reserved) when there is none. */
  reserve(c: Tracked, n: number): boolean {
    while (this.#used + n > this.opts.fdBudget) {
      const victim = this.#oldestIdleBut(c);
      if (!victim) return false;
      this.opts.onShed(
        `closed the longest idle connection (${victim.peer}) to make room: descriptor budget ${this.opts.fdBudget} spent`,
      );
      this.#drop(victim);
      victim.close("descriptor budget spent");
    }
    this.#used += n;
    this.#fds.set(c, (this.#fds.get(c) ?? 0) + n);
    return true;
  }

  #oldestIdleBut(c: Tracked): Tracked | undefined {
    for (const v of this.#idle) if (v !== c) return v;
    return undefined;
  }

  /** Closes the connection idle the longest; false if none is. */
  shedOne(reason: string): boolean {
    const [victim] = this.#idle;
    if (!victim) return false;
    this.opts.onShed(
      `closed the longest idle connection (${victim.peer}): ${reason}`,
    );
    this.#drop(victim);
    victim.close(reason);
    return true;
  }

  /** `c` completed its first request head. */
  finished(c: Tracked): void {
    this.#unfinished.delete(c);
  }

  /** Whether `c` may be closed to make room (idle or waiting for a head). */
  setIdle(c: Tracked, idle: boolean): void {
    if (!this.#fds.has(c)) return;
    this.#idle.delete(c);
    if (idle) this.#idle.add(c);
  }

  /** `c` is closed: its descriptors are free. */
  release(c: Tracked): void {
    this.#drop(c);
  }

  #drop(c: Tracked): void {
    this.#used -= this.#fds.get(c) ?? 0;
    this.#fds.delete(c);
    this.#idle.delete(c);
    this.#unfinished.delete(c);
  }
}

/** The soft RLIMIT_NOFILE of this process (Linux /proc), or null. */
export async function openFileLimit(): Promise<number | null> {
  try {
    const text = await Deno.readTextFile("/proc/self/limits");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (!m) return null;
    return m[1] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return null;
  }
}

/** The front's share of `limit` descriptors: all but a reserve for the rest
 * of the process (store, logs, the agent's tasks, Deno itself). */
export function fdBudgetOf(limit: number | null): number {
  const l = limit ?? 1024;
  return Math.max(16, l - Math.max(64, Math.floor(l / 8)));
}
