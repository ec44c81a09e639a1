// Internal tasks of one weft process, K3s's goroutine model made explicit:
// each task starts once the tasks it depends on are ready, a task that throws
// or returns on its own is logged and restarted with exponential backoff
// (never taking the process down), and stop() aborts the tasks in reverse
// dependency order, waiting a bounded time for each. Tasks leave their
// dataplane in place when their signal aborts.

import { sleep as realSleep, untilAborted } from "../util/async.ts";
import type { TaskContext } from "../util/task.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { type Logger, stderrLogger } from "./log.ts";
import { countRestart, exposeReadiness } from "./metrics.ts";

export type { TaskContext };

export interface TaskSpec {
  name: string;
  /** Names of tasks that must be ready before this one starts. */
  deps?: string[];
  run: (ctx: TaskContext) => Promise<void>;
}

export type TaskState =
  | "waiting"
  | "starting"
  | "ready"
  | "backoff"
  | "stopped";

export interface TaskStatus {
  name: string;
  state: TaskState;
  ready: boolean;
  restarts: number;
  lastError?: string;
}

export interface SupervisorOptions {
  log?: Logger;
  backoff?: BackoffOptions;
  /** Injectable for tests: waits `ms` or until `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Injectable clock (ms). */
  now?: () => number;
  /** How long stop() waits for each task (default 10 s). */
  stopTimeoutMs?: number;
  /** A run that lasted this long resets the backoff (default: backoff max). */
  healthyAfterMs?: number;
  /** A task failed and will be restarted (events); must not throw. */
  onRestart?: (task: string, error: string, restarts: number) => void;
}

export class SupervisorError extends Error {
  override name = "SupervisorError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** A task returned although nobody asked it to stop. */
export class TaskExitedError extends Error {
  override name = "TaskExitedError";
  constructor(task: string) {
    super(`task ${task} returned before it was asked to stop`);
  }
}

interface Entry {
  spec: TaskSpec;
  state: TaskState;
  restarts: number;
  lastError?: string;
  run?: AbortController;
  readyOnce: PromiseWithResolvers<void>;
  loop?: Promise<void>;
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : "";
    return `${e.name}: ${e.message}${cause}`;
  }
  return String(e);
}

/** Orders tasks so that every task comes after its dependencies. */
export function dependencyOrder(tasks: TaskSpec[]): TaskSpec[] {
  const byName = new Map<string, TaskSpec>();
  for (const t of tasks) {
    if (byName.has(t.name)) {
      throw new SupervisorError(`task "${t.name}" is defined twice`);
    }
    byName.set(t.name, t);
  }
  const out: TaskSpec[] = [];
  const mark = new Map<string, "visiting" | "done">();
  const visit = (t: TaskSpec, path: string[]) => {
    const m = mark.get(t.name);
    if (m === "done") return;
    if (m === "visiting") {
      throw new SupervisorError(
        `task dependency cycle: ${[...path, t.name].join(" -> ")}`,
      );
    }
    mark.set(t.name, "visiting");
    for (const d of t.deps ?? []) {
      const dep = byName.get(d);
      if (!dep) {
        throw new SupervisorError(
          `task "${t.name}" depends on unknown task "${d}"`,
        );
      }
      visit(dep, [...path, t.name]);
    }
    mark.set(t.name, "done");
    out.push(t);
  };
  for (const t of tasks) visit(t, []);
  return out;
}

export class Supervisor {
  readonly #order: Entry[];
  readonly #byName = new Map<string, Entry>();
  readonly #log: Logger;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #now: () => number;
  readonly #backoff: BackoffOptions;
  readonly #stopTimeoutMs: number;
  readonly #healthyAfterMs: number;
  readonly #stopping = new AbortController();
  readonly #onRestart: SupervisorOptions["onRestart"];
  #unexpose: (() => void) | null = null;
  #started = false;

  constructor(tasks: TaskSpec[], opts: SupervisorOptions = {}) {
    this.#order = dependencyOrder(tasks).map((spec) => ({
      spec,
      state: "waiting" as TaskState,
      restarts: 0,
      readyOnce: Promise.withResolvers<void>(),
    }));
    for (const e of this.#order) this.#byName.set(e.spec.name, e);
    this.#log = opts.log ?? stderrLogger;
    this.#sleep = opts.sleep ?? realSleep;
    this.#now = opts.now ?? Date.now;
    this.#backoff = opts.backoff ?? {};
    this.#stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
    this.#onRestart = opts.onRestart;
    this.#healthyAfterMs = opts.healthyAfterMs ??
      new Backoff(this.#backoff).maxMs;
  }

  /** Starts every task (each after its dependencies are ready). */
  start(): void {
    if (this.#started) throw new SupervisorError("supervisor already started");
    this.#started = true;
    this.#unexpose = exposeReadiness(() => this.status());
    for (const e of this.#order) e.loop = this.#loop(e);
  }

  /** Resolves once every task has been ready at least once (or on abort). */
  async waitReady(signal?: AbortSignal): Promise<void> {
    const all = Promise.all(this.#order.map((e) => e.readyOnce.promise));
    if (!signal) return void await all;
    await Promise.race([all, untilAborted(signal)]);
  }

  /** Per-task state, for `/readyz` and the node status. */
  status(): TaskStatus[] {
    return this.#order.map((e) => ({
      name: e.spec.name,
      state: e.state,
      ready: e.state === "ready",
      restarts: e.restarts,
      ...(e.lastError ? { lastError: e.lastError } : {}),
    }));
  }

  /** True when every task is ready right now. */
  get ready(): boolean {
    return this.#order.every((e) => e.state === "ready");
  }

  /**
   * Stops the tasks in reverse dependency order: aborts each one's signal
   * and waits for it, at most `stopTimeoutMs` per task.
   */
  async stop(): Promise<void> {
    if (this.#stopping.signal.aborted) return;
    this.#stopping.abort();
    this.#unexpose?.();
    for (const e of [...this.#order].reverse()) {
      e.run?.abort();
      if (!e.loop) continue;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = await Promise.race([
        e.loop.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), this.#stopTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.#log(
          "warn",
          e.spec.name,
          `did not stop within ${this.#stopTimeoutMs} ms; leaving it`,
        );
      }
    }
  }

  async #waitDeps(e: Entry): Promise<boolean> {
    const deps = (e.spec.deps ?? []).map((d) => this.#byName.get(d)!);
    if (deps.length === 0) return !this.#stopping.signal.aborted;
    await Promise.race([
      Promise.all(deps.map((d) => d.readyOnce.promise)),
      untilAborted(this.#stopping.signal),
    ]);
    return !this.#stopping.signal.aborted;
  }

  async #loop(e: Entry): Promise<void> {
    const name = e.spec.name;
    if (!(await this.#waitDeps(e))) {
      e.state = "stopped";
      return;
    }
    const backoff = new Backoff(this.#backoff);
    while (!this.#stopping.signal.aborted) {
      const run = new AbortController();
      e.run = run;
      e.state = "starting";
      const startedAt = this.#now();
      this.#log("info", name, e.restarts === 0 ? "starting" : "restarting");
      let failure: unknown;
      try {
        await e.spec.run(this.#context(e, run));
        if (!run.signal.aborted) failure = new TaskExitedError(name);
      } catch (err) {
        failure = err;
      }
      if (this.#stopping.signal.aborted) break;
      e.restarts++;
      e.lastError = errorText(failure);
      countRestart(name);
      try {
        this.#onRestart?.(name, e.lastError, e.restarts);
      } catch {
        // a reporting hook never takes a task down
      }
      if (this.#now() - startedAt >= this.#healthyAfterMs) backoff.reset();
      const delay = backoff.next();
      e.state = "backoff";
      this.#log(
        "error",
        name,
        `failed: ${e.lastError}; restart ${e.restarts} in ${delay} ms`,
      );
      await this.#sleep(delay, this.#stopping.signal);
    }
    e.state = "stopped";
    this.#log("info", name, "stopped");
  }

  #context(e: Entry, run: AbortController): TaskContext {
    return {
      signal: run.signal,
      ready: () => {
        if (run.signal.aborted || e.run !== run || e.state === "ready") return;
        e.state = "ready";
        e.readyOnce.resolve();
        this.#log("info", e.spec.name, "ready");
      },
      log: (msg) => this.#log("info", e.spec.name, msg),
    };
  }
}
