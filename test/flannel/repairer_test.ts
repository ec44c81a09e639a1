import { assert, assertEquals } from "@std/assert";
import { Repairer } from "../../src/flannel/repair.ts";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("Repairer: a burst of changes costs one pass, naming the first and counting the rest", async () => {
  const whys: string[] = [];
  using r = new Repairer({
    what: "the dataplane",
    log: () => {},
    pass: (why) => {
      whys.push(why);
      return Promise.resolve(1);
    },
  });
  for (let i = 0; i < 50; i++) r.notify(`change ${i}`);
  await wait(100);
  await r.idle;
  assertEquals(whys, ["change 0 (+49 more changes)"]);
});

Deno.test("Repairer: a change during a pass schedules exactly one more", async () => {
  let passes = 0;
  let release = () => {};
  using r = new Repairer({
    what: "x",
    log: () => {},
    pass: () => {
      passes++;
      return new Promise((res) => release = () => res(0));
    },
  });
  r.notify("a");
  await wait(50);
  r.notify("b");
  r.notify("c");
  release();
  await wait(50);
  release();
  await r.idle;
  assertEquals(passes, 2);
});

Deno.test("Repairer: repairs that keep being undone back off (logged), and quiet makes them immediate again", async () => {
  const logs: string[] = [];
  let passes = 0;
  using r = new Repairer({
    what: "the dataplane",
    log: (m) => logs.push(m),
    maxBackoffMs: 400,
    pass: () => {
      passes++;
      return Promise.resolve(1);
    },
  });
  // A writer undoing every repair at once, for 1.5 s.
  const end = performance.now() + 1500;
  while (performance.now() < end) {
    r.notify("neighbour changed");
    await wait(2);
  }
  // 5 free repairs, then 100, 200, 400, 400 ms delays: far from one per change.
  assert(passes >= 6 && passes <= 12, `${passes} passes`);
  assert(
    logs.some((l) =>
      l.startsWith("event: something keeps changing the dataplane back")
    ),
    logs.join("\n"),
  );
  await wait(1000);
  await r.idle;
  const t = performance.now();
  const before = passes;
  r.notify("one more");
  while (passes === before) await wait(1);
  assert(performance.now() - t < 100, "immediate after a quiet period");
  assert(logs.some((l) => l.includes("stable again")), logs.join("\n"));
});
