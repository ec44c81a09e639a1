// What the demo prints: timestamped progress lines, the matrix summary with
// its failures, the live status line, log tails after a failure.

import { type Summary, summaryLine } from "./matrix.ts";
import { type Proc, tail } from "./proc.ts";

export class Reporter {
  readonly #started = Date.now();

  /** `[  12.3s] msg`: seconds since the demo started. */
  progress(msg: string): void {
    const secs = ((Date.now() - this.#started) / 1000).toFixed(1).padStart(5);
    console.log(`[${secs}s] ${msg}`);
  }

  matrix(summary: Summary): void {
    this.progress(`connectivity: ${summaryLine(summary)}`);
    for (const f of summary.failures) {
      console.log(
        `  FAIL ${f.check.kind} ${f.check.from} -> ${f.check.to}: ${f.error}`,
      );
    }
  }

  /** Rewrites the live status line in place. */
  async liveLine(summary: Summary, exited: string[]): Promise<void> {
    const time = new Date().toISOString().slice(11, 19);
    const line = `${time} ${summaryLine(summary)}${
      exited.length ? ` — exited: ${exited.join(", ")}` : ""
    }`;
    await Deno.stdout.write(new TextEncoder().encode(`\x1b[2K\r${line}`));
  }

  /** The last lines of each process's log (after a failure). */
  async logTails(procs: Proc[]): Promise<void> {
    for (const p of procs) {
      const t = await tail(p.logFile, 8);
      if (t) console.error(`--- ${p.name} (${p.logFile}):\n${t}`);
    }
  }

  tornDown(logDir: string, logsKept: boolean): void {
    if (logDir && logsKept) this.progress(`torn down (logs kept in ${logDir})`);
    else this.progress("torn down");
  }
}
