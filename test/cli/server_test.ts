// `weft server --disable-agent` as a real process in a namespace: the
// control plane alone, its readiness, the files it writes, and a clean
// stop on SIGTERM.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { weftArgv } from "../harness/weft.ts";

Deno.test("weft server --disable-agent serves the API, reports its tasks ready, and stops on SIGTERM", async () => {
  await using ns = await Netns.create("srv");
  const dir = await Deno.makeTempDir({ prefix: "weft-server-test-" });
  const kubeconfig = `${dir}/weft.yaml`;
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns.name,
      ...weftArgv(
        "server",
        "--disable-agent",
        "--data-dir",
        dir,
        "--write-kubeconfig",
        kubeconfig,
        "--write-kubeconfig-mode",
        "0640",
        "--node-ip",
        "127.0.0.1",
        "--egress-selector-mode",
        "cluster",
      ),
    ],
    env: { WEFT_CONFIG_FILE: "" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const kubectl = (...args: string[]) =>
      ns.run([
        "kubectl",
        "--kubeconfig",
        kubeconfig,
        "--request-timeout=3s",
        ...args,
      ]);
    let ready = false;
    for (let i = 0; i < 120 && !ready; i++) {
      ready = (await kubectl("get", "--raw", "/readyz")).code === 0;
      if (!ready) await new Promise((r) => setTimeout(r, 250));
    }
    assert(ready, "the API answered /readyz");
    const st = JSON.parse(
      (await kubectl("get", "--raw", "/v1-weft/readyz")).stdout,
    );
    assertEquals(st.ready, true);
    assertEquals(st.tasks.map((t: { name: string }) => t.name), [
      "api",
      "node-credentials",
      "server-members",
    ]);
    // One server on SQLite: agents learn just this one.
    assertEquals(
      JSON.parse((await kubectl("get", "--raw", "/v1-weft/servers")).stdout),
      { servers: ["https://127.0.0.1:6443"] },
    );
    assertEquals((await Deno.stat(kubeconfig)).mode! & 0o777, 0o640);
    assertEquals((await Deno.stat(`${dir}/server/db`)).mode! & 0o777, 0o700);
    assertStringIncludes(
      await Deno.readTextFile(`${dir}/server/agent-token`),
      "::node:",
    );
    const egress = await Deno.readTextFile(
      `${dir}/server/etc/egress-selector-config.yaml`,
    );
    assertStringIncludes(egress, "EgressSelectorConfiguration");
    assertEquals(
      (await kubectl("get", "nodes", "-o", "name")).stdout.trim(),
      "",
    );
    // /metrics with the metrics credential the server wrote.
    const metricsToken = `${dir}/server/cred/metrics-token`;
    assertEquals((await Deno.stat(metricsToken)).mode! & 0o777, 0o600);
    const token = (await Deno.readTextFile(metricsToken)).trim();
    const m = await kubectl("get", "--raw", "/metrics", "--token", token);
    assertEquals(m.code, 0, m.stderr);
    assertStringIncludes(m.stdout, 'weft_supervisor_task_ready{task="api"} 1');
    assertStringIncludes(
      m.stdout,
      "weft_store_operation_duration_seconds_bucket{",
    );
    assertStringIncludes(m.stdout, "weft_event_loop_lag_seconds_count ");
    const denied = await kubectl("get", "nodes", "--token", token);
    assert(denied.code !== 0, "the metrics credential lists no nodes");
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // exited on its own: the status below says how
    }
    const status = await child.status;
    const log = await stderr;
    await Deno.remove(dir, { recursive: true });
    assertEquals(status.code, 0, log);
    assertStringIncludes(log, "INFO  server: stopping");
    assertStringIncludes(log, "INFO  api: stopped");
  }
});
