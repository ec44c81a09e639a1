import { assertEquals } from "@std/assert";
import {
  supervisorRestarts,
  supervisorTaskReady,
} from "../../src/metrics/mod.ts";
import { Supervisor } from "../../src/supervisor/mod.ts";

Deno.test("restarts are counted per task and reported to onRestart; readiness is exposed while running", async () => {
  const task = `flaky-${crypto.randomUUID().slice(0, 8)}`;
  const reported: [string, string, number][] = [];
  let runs = 0;
  const sup = new Supervisor([{
    name: task,
    run: (ctx) => {
      if (++runs <= 2) return Promise.reject(new Error(`boom ${runs}`));
      ctx.ready();
      return new Promise<void>((r) =>
        ctx.signal.addEventListener("abort", () => r(), { once: true })
      );
    },
  }], {
    log: () => {},
    sleep: () => Promise.resolve(),
    onRestart: (t, err, n) => {
      reported.push([t, err, n]);
      throw new Error("a broken hook is ignored");
    },
  });
  sup.start();
  await sup.waitReady();
  assertEquals(supervisorRestarts.get({ task }), 2);
  assertEquals(reported, [
    [task, "Error: boom 1", 1],
    [task, "Error: boom 2", 2],
  ]);
  const ready = () =>
    supervisorTaskReady.samples().find((s) => s.labels.task === task)?.value;
  assertEquals(ready(), 1);
  await sup.stop();
  assertEquals(ready(), undefined);
});
