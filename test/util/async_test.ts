// util/async.ts: an abortable sleep that honours an already-aborted
// signal, and untilAborted.

import { assertEquals } from "@std/assert";
import { sleep, untilAborted } from "../../src/util/async.ts";

Deno.test("sleep() with an already-aborted signal resolves without starting a timer", async () => {
  // A long timer left running would fail the test's op sanitizer.
  await sleep(3_600_000, AbortSignal.abort());
});

Deno.test("sleep() ends early when the signal aborts, and clears its timer", async () => {
  const stop = new AbortController();
  const order: string[] = [];
  const slept = sleep(3_600_000, stop.signal).then(() => order.push("woke"));
  order.push("abort");
  stop.abort();
  await slept;
  assertEquals(order, ["abort", "woke"]);
});

Deno.test("sleep() without a signal waits its time", async () => {
  let woke = false;
  await sleep(1).then(() => woke = true);
  assertEquals(woke, true);
});

Deno.test("untilAborted() resolves on abort, at once when already aborted", async () => {
  await untilAborted(AbortSignal.abort());
  const stop = new AbortController();
  const waiting = untilAborted(stop.signal);
  stop.abort();
  await waiting;
});
