// The demo's polling: a failing probe is retried until the time is up, a
// failing liveness check (a weft process died) ends the wait at once.

import { assertEquals, assertRejects } from "@std/assert";
import { waitFor } from "../../src/cli/demo/proc.ts";

Deno.test("demo waitFor retries a throwing probe until it answers", async () => {
  let calls = 0;
  const v = await waitFor("the answer", () => {
    calls++;
    if (calls < 3) return Promise.reject(new Error("not yet"));
    return Promise.resolve(calls);
  }, { timeoutMs: 600_000, intervalMs: 1 });
  assertEquals(v, 3);
});

Deno.test("demo waitFor ends at once with the error of its fatal check", async () => {
  let rounds = 0;
  await assertRejects(
    () =>
      waitFor("the server", () => Promise.resolve(undefined), {
        timeoutMs: 600_000,
        intervalMs: 1,
        fatal: () => {
          rounds++;
          return rounds > 2
            ? Promise.reject(new Error("node1 server exited (code 1)"))
            : Promise.resolve();
        },
      }),
    Error,
    "node1 server exited (code 1)",
  );
  assertEquals(rounds, 3);
});
