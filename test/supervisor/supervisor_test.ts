import { assertEquals, assertThrows } from "@std/assert";
import {
  Backoff,
  dependencyOrder,
  formatLine,
  type Level,
  Supervisor,
  SupervisorError,
  type TaskContext,
} from "../../src/supervisor/mod.ts";

interface Line {
  level: Level;
  task: string;
  msg: string;
}

function recorder() {
  const lines: Line[] = [];
  return {
    lines,
    log: (level: Level, task: string, msg: string) =>
      void lines.push({ level, task, msg }),
  };
}

/** A task that is ready at once and runs until aborted, recording events. */
function serving(name: string, events: string[], deps: string[] = []) {
  return {
    name,
    deps,
    run: async (ctx: TaskContext) => {
      events.push(`start ${name}`);
      ctx.ready();
      await new Promise<void>((r) =>
        ctx.signal.addEventListener("abort", () => r(), { once: true })
      );
      events.push(`stop ${name}`);
    },
  };
}

Deno.test("supervisor starts tasks after their dependencies are ready", async () => {
  const events: string[] = [];
  const rec = recorder();
  const sup = new Supervisor([
    serving("flannel", events, ["join"]),
    serving("join", events, ["store"]),
    serving("store", events),
  ], { log: rec.log });
  sup.start();
  await sup.waitReady();
  assertEquals(events, ["start store", "start join", "start flannel"]);
  assertEquals(sup.ready, true);
  await sup.stop();
});

Deno.test("supervisor stops tasks in reverse dependency order", async () => {
  const events: string[] = [];
  const sup = new Supervisor([
    serving("api", events, ["store"]),
    serving("store", events),
    serving("flannel", events, ["api"]),
  ], { log: recorder().log });
  sup.start();
  await sup.waitReady();
  events.length = 0;
  await sup.stop();
  assertEquals(events, ["stop flannel", "stop api", "stop store"]);
  assertEquals(sup.status().map((s) => s.state), [
    "stopped",
    "stopped",
    "stopped",
  ]);
});

Deno.test("a failing task is restarted with doubling backoff capped at the maximum, others keep running", async () => {
  const delays: number[] = [];
  const rec = recorder();
  let runs = 0;
  const events: string[] = [];
  const sup = new Supervisor([
    serving("api", events),
    {
      name: "flannel",
      deps: ["api"],
      run: (ctx) => {
        runs++;
        if (runs <= 7) return Promise.reject(new Error(`boom ${runs}`));
        ctx.ready();
        return new Promise<void>((r) =>
          ctx.signal.addEventListener("abort", () => r(), { once: true })
        );
      },
    },
  ], {
    log: rec.log,
    backoff: { initialMs: 1000, maxMs: 30_000 },
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    now: () => 0,
  });
  sup.start();
  await sup.waitReady();
  assertEquals(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  const st = sup.status().find((s) => s.name === "flannel")!;
  assertEquals(st.restarts, 7);
  assertEquals(st.ready, true);
  assertEquals(st.lastError, "Error: boom 7");
  assertEquals(events, ["start api"], "api was never restarted");
  const errs = rec.lines.filter((l) => l.level === "error");
  assertEquals(errs.length, 7);
  assertEquals(errs[0].msg, "failed: Error: boom 1; restart 1 in 1000 ms");
  await sup.stop();
});

Deno.test("a task that returns on its own is restarted, and a long healthy run resets the backoff", async () => {
  const delays: number[] = [];
  let clock = 0;
  let runs = 0;
  const sup = new Supervisor([{
    name: "tunnel",
    run: (ctx) => {
      runs++;
      // Runs 1-3 return at once; run 4 stays up "100 s" then returns;
      // run 5 returns at once; run 6 serves.
      if (runs === 4) clock += 100_000;
      if (runs < 6) return Promise.resolve();
      ctx.ready();
      return new Promise<void>((r) =>
        ctx.signal.addEventListener("abort", () => r(), { once: true })
      );
    },
  }], {
    log: recorder().log,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
    now: () => clock,
  });
  sup.start();
  await sup.waitReady();
  assertEquals(delays, [1000, 2000, 4000, 1000, 2000]);
  assertEquals(
    sup.status()[0].lastError,
    "TaskExitedError: task tunnel returned before it was asked to stop",
  );
  await sup.stop();
});

Deno.test("stop() wakes a task waiting in backoff and one waiting for its dependencies", async () => {
  const sup = new Supervisor([
    { name: "broken", run: () => Promise.reject(new Error("no")) },
    serving("needs-broken", [], ["broken"]),
  ], {
    log: recorder().log,
    backoff: { initialMs: 3_600_000, maxMs: 3_600_000 },
  });
  sup.start();
  // Let the first run fail and enter its hour-long backoff.
  while (sup.status()[0].state !== "backoff") {
    await new Promise((r) => setTimeout(r, 1));
  }
  await sup.stop();
  assertEquals(sup.status().map((s) => [s.name, s.state]), [
    ["broken", "stopped"],
    ["needs-broken", "stopped"],
  ]);
});

Deno.test("stop() gives up on a task that ignores its signal after the bound", async () => {
  const rec = recorder();
  let release!: () => void;
  const stuck = new Promise<void>((r) => release = r);
  const sup = new Supervisor([{
    name: "stubborn",
    run: (ctx) => {
      ctx.ready();
      return stuck;
    },
  }], { log: rec.log, stopTimeoutMs: 20 });
  sup.start();
  await sup.waitReady();
  await sup.stop();
  assertEquals(
    rec.lines.some((l) =>
      l.task === "stubborn" && l.level === "warn" &&
      l.msg.includes("did not stop within 20 ms")
    ),
    true,
  );
  release();
});

Deno.test("readiness is reported per task and drops while a task restarts", async () => {
  let fail!: (e: Error) => void;
  let runs = 0;
  let gate!: () => void;
  const held = new Promise<void>((r) => gate = r);
  const sup = new Supervisor([
    serving("api", []),
    {
      name: "flannel",
      run: (ctx) => {
        runs++;
        if (runs === 1) {
          ctx.ready();
          return new Promise<void>((_, reject) => fail = reject);
        }
        return held.then(() => {
          ctx.ready();
          return new Promise<void>((r) =>
            ctx.signal.addEventListener("abort", () => r(), { once: true })
          );
        });
      },
    },
  ], { log: recorder().log, sleep: () => Promise.resolve() });
  sup.start();
  await sup.waitReady();
  assertEquals(sup.ready, true);
  fail(new Error("lost the lease"));
  while (runs < 2) await new Promise((r) => setTimeout(r, 1));
  assertEquals(sup.ready, false);
  assertEquals(sup.status().map((s) => s.ready), [true, false]);
  gate();
  while (!sup.ready) await new Promise((r) => setTimeout(r, 1));
  assertEquals(sup.status()[1].restarts, 1);
  await sup.stop();
});

Deno.test("dependencyOrder rejects unknown dependencies, cycles and duplicates", () => {
  const t = (name: string, deps: string[] = []) => ({
    name,
    deps,
    run: () => Promise.resolve(),
  });
  assertThrows(
    () => dependencyOrder([t("a", ["zz"])]),
    SupervisorError,
    'task "a" depends on unknown task "zz"',
  );
  assertThrows(
    () => dependencyOrder([t("a", ["b"]), t("b", ["a"])]),
    SupervisorError,
    "task dependency cycle: a -> b -> a",
  );
  assertThrows(
    () => dependencyOrder([t("a"), t("a")]),
    SupervisorError,
    'task "a" is defined twice',
  );
});

Deno.test("Backoff doubles from 1 s to 30 s by default and rejects nonsense", () => {
  const b = new Backoff();
  assertEquals([1, 2, 3, 4, 5, 6, 7].map(() => b.next()), [
    1000,
    2000,
    4000,
    8000,
    16000,
    30000,
    30000,
  ]);
  b.reset();
  assertEquals(b.next(), 1000);
  assertThrows(() => new Backoff({ initialMs: 0 }), RangeError);
});

Deno.test("formatLine prints time, level, task and a one-line message", () => {
  assertEquals(
    formatLine("warn", "flannel", "line one\n  line two", new Date(0)),
    "1970-01-01T00:00:00.000Z WARN  flannel: line one | line two",
  );
});
