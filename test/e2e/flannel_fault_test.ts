// Issue 7's acceptance for the flannel task itself, on a real demo cluster:
// the fault is an operator revoking node2's credential on the server
// (`weft token forget-node node2`, run inside the server node's namespaces
// as the demo runs its processes there). Nothing in weft is told about it:
// node2's flannel task finds out on its next API request (the periodic lease
// check) that the server answers 401, ends with a clear error instead of
// retrying a credential that can never work, and the supervisor restarts it
// with backoff while the agent's join task obtains a fresh credential. The
// agent process lives, pods keep talking throughout (flannel leaves the
// dataplane in place when it stops) and after recovery, and the demo's
// namespaces are gone afterwards. A second test drives the node watch
// itself against an API server that answers 503, then 401.

import { assert, assertEquals, assertRejects } from "@std/assert";
import { Demo } from "../../src/cli/demo/mod.ts";
import { runChecks, summarize } from "../../src/cli/demo/matrix.ts";
import { exec } from "../../src/cli/demo/proc.ts";
import { FlannelError, kubeNodeSource } from "../../src/flannel/mod.ts";
import { KubeClient, KubeError } from "../../src/kube/mod.ts";

function count(log: string, text: string): number {
  return log.split(text).length - 1;
}

/** Waits until `text` occurs at least `n` times in the log file. */
async function logHas(
  path: string,
  text: string,
  timeoutMs: number,
  n = 1,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const log = await Deno.readTextFile(path).catch(() => "");
    if (count(log, text) >= n) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

async function podsTalk(demo: Demo): Promise<(string | null)[]> {
  const pods = demo.checks().filter((c) => c.kind === "pod-pod");
  assert(pods.length > 0, "the demo has pod-pod checks");
  return summarize(await runChecks(pods)).failures.map((f) => f.error);
}

Deno.test("a flannel task whose credential is revoked fails, is restarted with a fresh one, and pods keep talking", async () => {
  const prefix = `weft-t-${Deno.pid}-ff-`;
  const demo = new Demo({
    nodes: 3,
    backend: "vxlan",
    check: true,
    timeoutMs: 120_000,
    prefix,
  }, new AbortController().signal);
  try {
    await demo.build();
    const first = await demo.converge(60_000);
    assertEquals(first.failures.map((f) => f.error), []);

    const agent = demo.proc("node2 agent")!;
    const before = await Deno.readTextFile(agent.logFile);
    assertEquals(count(before, "ERROR flannel:"), 0, "flannel was healthy");
    const joins = count(before, "as system:node:node2");

    const [server] = demo.topo.nodes;
    const forget = await exec([
      ...demo.topo.enter(server),
      ...demo.self,
      "token",
      "forget-node",
      "node2",
    ]);
    assertEquals(forget.code, 0, forget.stderr);

    assert(
      await logHas(
        agent.logFile,
        // From the node watch (it ends with its credential) or the
        // periodic lease check, whichever sees the 401 first.
        "the API server rejected this node's credential (401); stopping so that the agent joins again",
        90_000,
      ),
      "node2's flannel task ended on the rejected credential",
    );
    assert(
      await logHas(agent.logFile, "INFO  flannel: restarting", 60_000),
      "the supervisor restarted the flannel task",
    );
    assert(agent.running, "the agent process lives on");
    assertEquals(await podsTalk(demo), [], "pods keep talking meanwhile");

    // Recovery: a fresh credential, and flannel ready again on it.
    assert(
      await logHas(agent.logFile, "as system:node:node2", 90_000, joins + 1),
      "the join task obtained a fresh credential",
    );
    assert(
      await logHas(agent.logFile, "INFO  flannel: ready", 90_000, 2),
      "the restarted flannel task became ready",
    );
    const again = await demo.converge(90_000);
    assertEquals(again.failures.map((f) => f.error), []);
    assertEquals(again.ok, first.ok);
    assertEquals(await podsTalk(demo), []);
    assert(agent.running, "the agent process is still the same one");

    // What an operator sees: the failure and the recovery as events on
    // node2, and the restart in node2's metrics through the node proxy.
    let reasons: string[] = [];
    for (let i = 0; i < 90; i++) {
      const r = await demo.kubectl(
        server,
        "get",
        "events",
        "-A",
        "--field-selector",
        "involvedObject.name=node2",
        "-o",
        "json",
      );
      reasons = r.code === 0
        ? JSON.parse(r.stdout).items.map((e: { reason: string }) => e.reason)
        : [];
      if (reasons.includes("FlannelFailed")) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert(reasons.includes("FlannelFailed"), reasons.join(","));
    assert(reasons.includes("FlannelUp"), reasons.join(","));
    const m = await demo.kubectl(
      server,
      "get",
      "--raw",
      "/api/v1/nodes/node2/proxy/metrics",
    );
    assertEquals(m.code, 0, m.stderr);
    assert(
      /^weft_supervisor_task_restarts_total\{task="flannel"\} [1-9]/m.test(
        m.stdout,
      ),
      m.stdout,
    );
    assert(/^weft_flannel_leases 2$/m.test(m.stdout), m.stdout);
  } finally {
    await demo.teardown();
  }
  const left = (await exec(["ip", "netns", "list"])).stdout;
  assertEquals(
    left.split("\n").filter((l) => l.startsWith(prefix)),
    [],
    "no namespaces left",
  );
});

async function until(what: string, fn: () => boolean): Promise<void> {
  const end = Date.now() + 30_000;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("the flannel node watch retries a failing server but ends on a rejected credential", async () => {
  let status = 503;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      Response.json({
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        code: status,
        reason: status === 401 ? "Unauthorized" : "ServiceUnavailable",
        message: status === 401 ? "Unauthorized" : "try again later",
      }, { status }),
  );
  const client = new KubeClient({
    server: `http://127.0.0.1:${server.addr.port}`,
    token: "weft-node:node2:revoked",
  });
  const handlers = {
    added() {},
    updated() {},
    deleted() {},
    synced() {},
  };
  try {
    const source = kubeNodeSource(client);
    const reported: unknown[] = [];
    const stop = new AbortController();
    const first = source.watchNodes(handlers, stop.signal, (e) => {
      reported.push(e);
    });
    await until("two failed lists", () => reported.length >= 2);
    assert(reported.every((e) => e instanceof KubeError && e.status === 503));
    stop.abort();
    await first.done; // stopped by its signal: resolves

    status = 401;
    // A watch that kept retrying would be stopped here and resolve, which
    // fails the assertRejects below instead of hanging the test.
    const guard = new AbortController();
    const timer = setTimeout(() => guard.abort(), 30_000);
    const second = source.watchNodes(
      handlers,
      guard.signal,
      (e) => reported.push(e),
    );
    const err = await assertRejects(
      () => second.done.finally(() => clearTimeout(timer)),
      FlannelError,
      "node watch: the API server rejected this node's credential (401)",
    );
    assert(err.cause instanceof KubeError && err.cause.status === 401);
    assert(
      reported.every((e) => e instanceof KubeError && e.status === 503),
      "the 401 ends the watch instead of being reported and retried",
    );
  } finally {
    client.close();
    await server.shutdown();
  }
});
