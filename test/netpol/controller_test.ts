// The controller against a fake API server and real pods: it enforces what
// the API holds, replaces a stale table at start, updates set elements only
// when a pod comes or a namespace is relabelled, ignores an invalid policy,
// leaves its rules in force when stopped, and its table is removable.

import { assert, assertEquals } from "@std/assert";
import type { Pod } from "../../src/kube/mod.ts";
import {
  type NetworkPolicy,
  removeNetworkPolicyTable,
  runNetpolController,
  type SyncReport,
  TABLE_NAME,
} from "../../src/netpol/mod.ts";
import { nftTable } from "../harness/cni_ns.ts";
import { until } from "../kube/_fake_apiserver.ts";
import { type FakeResourceApi, withFakeResourceApi } from "./_fake_api.ts";
import { PodNode, type TestPod } from "./_pods.ts";

const POLICIES = "/apis/networking.k8s.io/v1/networkpolicies";
const PODS = "/api/v1/pods";
const NAMESPACES = "/api/v1/namespaces";

function podObject(p: TestPod, node = "n1"): Pod {
  return {
    metadata: {
      namespace: p.spec.namespace,
      name: p.spec.name,
      labels: p.spec.labels ?? {},
    },
    spec: { nodeName: node, containers: [{ name: "c" }] },
    status: { phase: "Running", podIPs: p.ips.map((ip) => ({ ip })) },
  };
}

function namespace(name: string, labels: Record<string, string>) {
  return { metadata: { name, labels } };
}

const onlyFromY: NetworkPolicy = {
  metadata: { namespace: "x", name: "a-from-y" },
  spec: {
    podSelector: { matchLabels: { pod: "a" } },
    ingress: [{
      from: [{ namespaceSelector: { matchLabels: { team: "y" } } }],
    }],
  },
};

async function reaches(node: PodNode, from: TestPod, to: TestPod) {
  const r = await node.probe(from, [[to.ip4, "tcp", 80], [to.ip6, "tcp", 80]]);
  assertEquals(r[0], r[1], "IPv4 and IPv6 disagree");
  return r[0];
}

/** While a change is applied: both families reach (true), neither
 * (false), or they still disagree (undefined: not settled yet; the nft
 * update may land between the two probes). */
async function settled(node: PodNode, from: TestPod, to: TestPod) {
  const r = await node.probe(from, [[to.ip4, "tcp", 80], [to.ip6, "tcp", 80]]);
  return r[0] === r[1] ? r[0] : undefined;
}

Deno.test("controller: enforces the API's policies, replaces a stale table, changes elements only for a new pod or a relabel", async () => {
  await using node = await PodNode.create("npc");
  const [xa, xb, ya] = await node.add([
    { name: "a", namespace: "x", labels: { pod: "a" } },
    { name: "b", namespace: "x", labels: { pod: "b" } },
    { name: "a", namespace: "y", labels: { pod: "a" } },
  ]);
  // What an earlier run left behind, and a table that is not weft's.
  await node.host.sh("nft", "add table inet weft-netpol");
  await node.host.sh("nft", "add chain inet weft-netpol stale-chain");
  await node.host.sh("nft", "add table inet someone-else");
  await node.host.sh("nft", "add chain inet someone-else keep-me");
  await withFakeResourceApi("npc", async (api: FakeResourceApi, client) => {
    api.put(NAMESPACES, namespace("x", { team: "x" }));
    api.put(NAMESPACES, namespace("y", { team: "y" }));
    for (const p of [xa, xb, ya]) api.put(PODS, podObject(p));
    api.put(POLICIES, onlyFromY);
    api.put(PODS, {
      ...podObject(xb, "n2"),
      metadata: { namespace: "z", name: "elsewhere", labels: {} },
    });
    const syncs: SyncReport[] = [];
    const logs: string[] = [];
    const stop = new AbortController();
    const done = runNetpolController({
      kube: client,
      nodeName: "n1",
      nodeIPs: () => ["10.22.0.1", "fd00:22::1"],
      netns: node.host.path,
      signal: stop.signal,
      log: (m) => logs.push(m),
      onSync: (r) => syncs.push(r),
      checkMs: 100,
    });
    try {
      await until(() => syncs.length >= 1, "the first sync");
      assert(syncs[0].full);
      const chains = (await nftTable(node.host, "inet", TABLE_NAME))
        .filter((o) => "chain" in o).map((o) => o.chain.name);
      assert(!chains.includes("stale-chain"), chains.join(" "));
      assertEquals(
        (await nftTable(node.host, "inet", "someone-else"))
          .filter((o) => "chain" in o).map((o) => o.chain.name),
        ["keep-me"],
      );
      assertEquals(await reaches(node, ya, xa), true);
      assertEquals(await reaches(node, xb, xa), false);
      assertEquals(await reaches(node, xa, xb), true);

      // A new pod in y: its addresses join the peer set, nothing else.
      const [yb] = await node.add([{
        name: "b",
        namespace: "y",
        labels: { pod: "b" },
      }]);
      const n = syncs.length;
      api.put(PODS, podObject(yb));
      await until(() => syncs.length > n, "the sync of a new pod");
      const added = syncs.slice(n).flatMap((s) => s.commands);
      assert(added.length <= 2, added.join("\n"));
      assert(
        added.every((c) => c.startsWith("add element ")),
        added.join("\n"),
      );
      assertEquals(await reaches(node, yb, xa), true);

      // Namespace y relabelled: it leaves the selector; elements go.
      const m = syncs.length;
      api.put(NAMESPACES, namespace("y", { team: "w" }));
      await until(() => syncs.length > m, "the sync of a relabel");
      const removed = syncs.slice(m).flatMap((s) => s.commands);
      assert(
        removed.every((c) => c.startsWith("delete element ")),
        removed.join("\n"),
      );
      assertEquals(await reaches(node, ya, xa), false);

      // An invalid policy is reported and ignored; the controller goes on.
      api.put(POLICIES, {
        metadata: { namespace: "x", name: "bad" },
        spec: { podSelector: {}, ingress: [{ ports: [{ port: 70000 }] }] },
      } as NetworkPolicy);
      api.put(NAMESPACES, namespace("y", { team: "y" }));
      await until(
        () =>
          logs.some((l) => l.includes("ignoring invalid NetworkPolicy x/bad")),
        "the invalid policy's log",
      );
      await until(
        async () => (await settled(node, ya, xa)) === true,
        "y allowed again",
      );
      assertEquals(await reaches(node, xb, xa), false);

      // x/a relabelled out of the policy's pod selector: it leaves the
      // ingress map, x/b reaches it; relabelled back, denied again.
      const j = syncs.length;
      api.put(
        PODS,
        podObject({ ...xa, spec: { ...xa.spec, labels: { pod: "z" } } }),
      );
      await until(() => syncs.length > j, "the sync of a pod relabel");
      const relabel = syncs.slice(j).flatMap((s) => s.commands);
      // The policy now selects no pod here: its chains and sets go too.
      assert(relabel.length <= 16, relabel.join("\n"));
      assert(!relabel.some((c) => c.includes(" table ")), relabel.join("\n"));
      assertEquals(await reaches(node, xb, xa), true);
      api.put(PODS, podObject(xa));
      await until(
        async () => (await settled(node, xb, xa)) === false,
        "x/a denied again",
      );

      // Someone deletes the table: it comes back, the policy holds.
      const f = syncs.length;
      await node.host.sh("nft", "delete table inet weft-netpol");
      await until(
        () => syncs.length > f && syncs[syncs.length - 1].full,
        "the table reloaded",
      );
      assertEquals(await reaches(node, xb, xa), false);

      // The policy goes: its chains and sets go, x/b reaches x/a.
      const k = syncs.length;
      api.remove(POLICIES, "x", "a-from-y");
      await until(() => syncs.length > k, "the sync of a removal");
      assertEquals(await reaches(node, xb, xa), true);
      const left = await nftTable(node.host, "inet", TABLE_NAME);
      assertEquals(
        left.filter((o) => "chain" in o).map((o) => o.chain.name).sort(),
        ["egress", "ingress"],
      );
      assertEquals(
        left.filter((o) => "set" in o).map((o) => o.set.name).sort(),
        ["node4", "node6"],
      );
    } finally {
      stop.abort();
      await done;
    }
    // Stopped: the table stays in force until --disable-network-policy.
    api.put(POLICIES, onlyFromY);
    assert(
      await node.host.run(["nft", "list", "table", "inet", TABLE_NAME]).then((
        r,
      ) => r.code === 0),
    );
    await removeNetworkPolicyTable(node.host.path);
    assertEquals(
      (await node.host.run(["nft", "list", "table", "inet", TABLE_NAME])).code,
      1,
    );
    assertEquals(
      (await node.host.run(["nft", "list", "table", "inet", "someone-else"]))
        .code,
      0,
    );
  });
});

Deno.test("controller: a server without the NetworkPolicy resource is retried, not fatal, and nothing is written", async () => {
  await using node = await PodNode.create("npm");
  await withFakeResourceApi("npm", async (api, client) => {
    api.missing.add(POLICIES);
    const logs: string[] = [];
    const stop = new AbortController();
    const done = runNetpolController({
      kube: client,
      nodeName: "n1",
      nodeIPs: () => [],
      netns: node.host.path,
      signal: stop.signal,
      log: (m) => logs.push(m),
    });
    await until(
      () => logs.some((l) => l.includes("list/watch networkpolicies")),
      "the error log",
    );
    assertEquals(
      (await node.host.run(["nft", "list", "table", "inet", TABLE_NAME])).code,
      1,
    );
    api.missing.delete(POLICIES);
    stop.abort();
    await done;
  });
});

Deno.test("agent task: --disable-network-policy removes weft's table and no other", async () => {
  await using node = await PodNode.create("npd");
  await node.host.sh("nft", "add table inet weft-netpol");
  await node.host.sh("nft", "add chain inet weft-netpol left-over");
  await node.host.sh("nft", "add table inet someone-else");
  const out = await node.host.sh(
    Deno.execPath(),
    "run",
    "-A",
    new URL("./_agent_task.ts", import.meta.url).pathname,
    "true",
  );
  assert(out.includes("disabled"), out);
  assertEquals(
    (await node.host.run(["nft", "list", "table", "inet", TABLE_NAME])).code,
    1,
  );
  assertEquals(
    (await node.host.run(["nft", "list", "table", "inet", "someone-else"]))
      .code,
    0,
  );
});

/** Connects from `from` to `to`:80 in a loop for `ms`; resolves with the counts. */
async function probeLoop(
  from: TestPod,
  to: TestPod,
  ms: number,
): Promise<Promise<{ attempts: number; successes: number }>> {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      from.ns.name,
      Deno.execPath(),
      "run",
      "-A",
      new URL("./_probe_loop.ts", import.meta.url).pathname,
      to.ip4,
      "80",
      String(ms),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("READY")) {
    const { value, done } = await lines.read();
    if (done) throw new Error("probe loop did not start");
    text += value;
  }
  return (async () => {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      text += value;
    }
    await child.status;
    return JSON.parse(text.slice(text.indexOf("{")));
  })();
}

Deno.test("controller restart with a policy in force: no window where the denied flow passes", async () => {
  await using node = await PodNode.create("npr");
  const [xa, xb] = await node.add([
    { name: "a", namespace: "x", labels: { pod: "a" } },
    { name: "b", namespace: "x", labels: { pod: "b" } },
  ]);
  await withFakeResourceApi("npr", async (api, client) => {
    api.put(NAMESPACES, namespace("x", {}));
    for (const p of [xa, xb]) api.put(PODS, podObject(p));
    api.put(POLICIES, {
      metadata: { namespace: "x", name: "deny-a" },
      spec: { podSelector: { matchLabels: { pod: "a" } }, ingress: [] },
    });
    const start = () => {
      const stop = new AbortController();
      let loaded!: () => void;
      const ready = new Promise<void>((r) => loaded = r);
      const done = runNetpolController({
        kube: client,
        nodeName: "n1",
        nodeIPs: () => [],
        netns: node.host.path,
        signal: stop.signal,
        log: () => {},
        ready: loaded,
      });
      return { stop, ready, done };
    };
    const first = start();
    await first.ready;
    const during = await probeLoop(xb, xa, 3000);
    await new Promise((r) => setTimeout(r, 500));
    first.stop.abort();
    await first.done;
    await new Promise((r) => setTimeout(r, 500));
    const second = start();
    await second.ready;
    const counts = await during;
    assert(counts.attempts >= 5, JSON.stringify(counts));
    assertEquals(counts.successes, 0);
    // The same probe passes once the policy goes (it can see a success).
    api.remove(POLICIES, "x", "deny-a");
    await until(
      async () => (await settled(node, xb, xa)) === true,
      "x/a reachable",
    );
    const after = await (await probeLoop(xb, xa, 500));
    assert(after.successes > 0, JSON.stringify(after));
    second.stop.abort();
    await second.done;
  });
});

Deno.test("agent task: enabled, it reports ready at once and writes nothing while the API does not answer (the controller waits for a policy)", async () => {
  await using node = await PodNode.create("npe2");
  await node.host.sh("nft", "add table inet weft-netpol");
  await node.host.sh("nft", "add chain inet weft-netpol from-before");
  const out = await node.host.sh(
    Deno.execPath(),
    "run",
    "-A",
    new URL("./_agent_task.ts", import.meta.url).pathname,
    "false",
  );
  assert(!out.includes("disabled"), out);
  // The rules of an earlier run stay in force until the API is listed.
  const chains = (await nftTable(node.host, "inet", TABLE_NAME))
    .filter((o) => "chain" in o).map((o) => o.chain.name);
  assertEquals(chains, ["from-before"]);
});
