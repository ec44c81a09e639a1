// util/serial.ts: jobs run one at a time in queue order; a failed job's
// error goes to its caller and the queue goes on.

import { assertEquals, assertRejects } from "@std/assert";
import { SerialQueue } from "../../src/util/serial.ts";

Deno.test("SerialQueue: a job starts only after the one before it ended", async () => {
  const queue = new SerialQueue();
  const events: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const first = queue.run(async () => {
    events.push("first start");
    await gate;
    events.push("first end");
    return 1;
  });
  const second = queue.run(() => {
    events.push("second");
    return 2;
  });
  await Promise.resolve();
  events.push("released");
  release();
  assertEquals(await Promise.all([first, second]), [1, 2]);
  assertEquals(events, ["first start", "released", "first end", "second"]);
});

Deno.test("SerialQueue: a failing job rejects its own promise only", async () => {
  const queue = new SerialQueue();
  const failed = queue.run(() => {
    throw new RangeError("boom");
  });
  const next = queue.run(() => "still runs");
  await assertRejects(() => failed, RangeError, "boom");
  assertEquals(await next, "still runs");
});
