// Small process helpers for the demo: run a command and capture its output,
// spawn a long-running one with its output in a log file, stop it by pid.

import { exec } from "../exec.ts";

export { exec, type Output } from "../exec.ts";

export class DemoError extends Error {
  override name = "DemoError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Runs a command and throws a DemoError with its stderr when it fails. */
export async function must(cmd: string[], what?: string): Promise<string> {
  const r = await exec(cmd);
  if (r.code !== 0) {
    throw new DemoError(
      `${what ?? cmd.join(" ")} failed (exit ${r.code}): ${
        (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")
      }`,
    );
  }
  return r.stdout;
}

/** A long-running process whose output goes to a log file. */
export class Proc {
  readonly exited: Promise<Deno.CommandStatus>;
  #done = false;

  constructor(
    readonly name: string,
    readonly child: Deno.ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = child.status.then((s) => {
      this.#done = true;
      return s;
    });
  }

  get running(): boolean {
    return !this.#done;
  }

  get pid(): number {
    return this.child.pid;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.#done) return;
    try {
      this.child.kill("SIGTERM");
    } catch {
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((r) => timer = setTimeout(() => r(true), graceMs)),
    ]);
    clearTimeout(timer);
    if (killed && !this.#done) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await this.exited;
    }
  }
}

/** Spawns `cmd` with stdout and stderr appended to `logFile`. */
export function spawnLogged(
  name: string,
  cmd: string[],
  logFile: string,
): Proc {
  const child = new Deno.Command("bash", {
    args: ["-c", 'exec "$@" >>"$WEFT_DEMO_LOG" 2>&1', "bash", ...cmd],
    env: { WEFT_DEMO_LOG: logFile },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return new Proc(name, child, logFile);
}

/** The last `n` lines of a file, or "" when unreadable. */
export async function tail(path: string, n = 15): Promise<string> {
  try {
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    return lines.slice(-n).join("\n");
  } catch {
    return "";
  }
}

/**
 * Polls `fn` until it returns a value (not undefined) or the time is up; a
 * throw from `fn` is retried, one from `fatal` (checked each round) ends the
 * wait at once.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  opts: {
    timeoutMs: number;
    intervalMs?: number;
    signal?: AbortSignal;
    fatal?: () => Promise<void>;
  },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  while (true) {
    if (opts.signal?.aborted) {
      throw new DemoError(`interrupted while waiting for ${what}`);
    }
    await opts.fatal?.();
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : "";
      throw new DemoError(
        `timed out after ${opts.timeoutMs / 1000} s waiting for ${what}${why}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
}
