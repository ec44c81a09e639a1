// Issue 7's resilience acceptance on a real demo cluster: with the server
// gone, an agent task that depends on it fails and is restarted with
// backoff while the agent process lives and the pods keep talking (the
// dataplane stays); with the server back, everything recovers.

import { assert, assertEquals } from "@std/assert";
import { Demo } from "../../src/cli/demo/mod.ts";
import { runChecks, summarize } from "../../src/cli/demo/matrix.ts";

async function logHas(
  path: string,
  text: string,
  timeoutMs: number,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const log = await Deno.readTextFile(path).catch(() => "");
    if (log.includes(text)) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

Deno.test("a failing agent task restarts with backoff, the process lives and pods keep talking", async () => {
  const demo = new Demo({
    nodes: 3,
    backend: "vxlan",
    check: true,
    timeoutMs: 120_000,
    prefix: `weft-t-${Deno.pid}-rs-`,
  }, new AbortController().signal);
  try {
    await demo.build();
    const first = await demo.converge(60_000);
    assertEquals(first.failures.map((f) => f.error), []);

    await demo.kill("node1 server");
    const agent = demo.proc("node2 agent")!;
    // The node task's heartbeat needs the API: it throws and is restarted.
    assert(
      await logHas(agent.logFile, "ERROR node: failed", 60_000),
      "node2's node task failed while the server was down",
    );
    assert(await logHas(agent.logFile, "INFO  node: restarting", 30_000));
    assert(agent.running, "the agent process lives on");
    const pods = summarize(
      await runChecks(demo.checks().filter((c) => c.kind === "pod-pod")),
    );
    assertEquals(pods.failures.map((f) => f.error), [], "pods keep talking");

    demo.relaunch("node1 server");
    const again = await demo.converge(90_000);
    assertEquals(again.failures.map((f) => f.error), []);
    assertEquals(again.ok, 45);
    assert(agent.running);
  } finally {
    await demo.teardown();
  }
});
