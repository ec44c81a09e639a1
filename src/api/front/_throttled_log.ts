// Log lines an attacker can trigger (refused and shed connections) are
// throttled: the first of a kind at once, then one line per interval with a
// count.

export /** Logs the first of a kind of event at once, then at most one line per
 * interval counting the rest (an attack must not flood the log). */
class ThrottledLog {
  #last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    readonly log: (m: string) => void,
    readonly intervalMs = 10_000,
  ) {}

  note(kind: string, msg: string): void {
    const now = performance.now();
    const s = this.#last.get(kind);
    if (s && now - s.at < this.intervalMs) {
      s.suppressed++;
      return;
    }
    const more = s?.suppressed
      ? ` (and ${s.suppressed} more like it in the last ${
        Math.round((now - s.at) / 1000)
      } s)`
      : "";
    this.#last.set(kind, { at: now, suppressed: 0 });
    this.log(`api: ${msg}${more}`);
  }
}
