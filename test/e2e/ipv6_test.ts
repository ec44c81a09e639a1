// Issue 12's acceptance: single-stack IPv6 clusters work with the defaults.
// On an IPv6-only underlay (the nodes' uplinks have no IPv4 address), the
// demo's cluster is started exactly as K3s documents it —
//   weft server --node-ip fd77::1 --cluster-cidr fd42::/56 --service-cidr fd43::/112
//   weft agent --server https://[fd77::1]:6443 --token …
// plus only what the harness always gives (--node-name; the backend and
// --flannel-ipv6-masq on the server) — for vxlan, host-gw and
// wireguard-native (wireguard-go). Agents join and detect their node IP,
// pods reach pods on other nodes (ping -6, a TCP transfer, the demo's
// matrix), the server reaches every agent through its tunnel (the node
// proxy), and pod traffic leaving the cluster is masqueraded (a listener on
// the underlay's own address sees the node's address). A dual-stack cluster
// with IPv6 as the primary family is checked the same way.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { Demo } from "../../src/cli/demo/mod.ts";
import { tcpCheck } from "../../src/cli/demo/matrix.ts";
import { exec } from "../../src/cli/demo/proc.ts";
import { RESPONDER_PORT } from "../../src/cli/demo/responder.ts";
import type { Stack } from "../../src/cli/demo/stack.ts";
import type { DemoNode } from "../../src/cli/demo/topology.ts";

type Backend = "vxlan" | "host-gw" | "wireguard-native";

let transferPort = 5400 + (Deno.pid % 400);

/** Builds a demo cluster, runs `fn` on it, tears it down (also on failure,
 * then with the processes' log tails printed). */
async function withCluster(
  tag: string,
  o: { backend: Backend; stack: Stack; nodes: number },
  fn: (d: Demo) => Promise<void>,
): Promise<void> {
  const demo = new Demo({
    nodes: o.nodes,
    backend: o.backend,
    stack: o.stack,
    check: true,
    timeoutMs: 60_000,
    // weft-t-<pid>-: the harness sweeps these if this test process dies.
    prefix: `weft-t-${Deno.pid}-${tag}-`,
  }, new AbortController().signal);
  let ok = false;
  try {
    await demo.build();
    await fn(demo);
    ok = true;
  } finally {
    if (!ok) await demo.printLogTails();
    await demo.teardown(ok);
  }
}

/** The demo's whole matrix: pod↔pod, pod→node (masqueraded), tunnels. */
async function matrixPasses(demo: Demo): Promise<void> {
  const s = await demo.converge(30_000);
  assertEquals(
    s.failures.map((f) =>
      `${f.check.kind} ${f.check.from} -> ${f.check.to}: ${f.error}`
    ),
    [],
  );
}

/** The arguments weft runs with after its subcommand (from /proc). */
async function argsOf(demo: Demo, name: string): Promise<string[]> {
  const p = demo.proc(name);
  if (!p) throw new Error(`${name} is not running`);
  const argv = (await Deno.readTextFile(`/proc/${p.pid}/cmdline`)).split("\0");
  const role = name.split(" ")[1];
  return argv.slice(argv.indexOf(role) + 1, -1);
}

async function nodeJSON(demo: Demo, name: string) {
  const r = await demo.kubectl(
    demo.topo.nodes[0],
    "get",
    "node",
    name,
    "-o",
    "json",
  );
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as {
    spec: { podCIDRs?: string[] };
    status: { addresses: { type: string; address: string }[] };
  };
}

/** The node endpoint's /status through the server's node proxy (tunnel). */
async function proxyStatus(demo: Demo, node: DemoNode) {
  const r = await demo.kubectl(
    demo.topo.nodes[0],
    "get",
    "--raw",
    `/api/v1/nodes/${node.name}/proxy/status`,
  );
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { nodeName: string; nodeIPs: string[] };
}

/** ping -6 from one pod to another; the number of replies. */
async function ping6(fromNetns: string, to: string): Promise<string> {
  const r = await exec([
    "ip",
    "netns",
    "exec",
    fromNetns,
    "ping",
    "-6",
    "-c",
    "3",
    "-i",
    "0.2",
    "-W",
    "2",
    to,
  ]);
  return r.stdout.match(/(\d+) received/)?.[1] ?? `failed: ${r.stderr}`;
}

const transferScript = new URL("./_transfer.ts", import.meta.url).pathname;

/** A 2 MiB TCP transfer between pods: the bytes the receiver counted (as
 * the sender learnt them) and the source address the receiver saw. */
async function transfer(
  fromNetns: string,
  toNetns: string,
  to: string,
): Promise<{ bytes: number; from: string }> {
  const port = String(++transferPort);
  const deno = [Deno.execPath(), "run", "-A", transferScript];
  const sink = new Deno.Command("ip", {
    args: ["netns", "exec", toNetns, ...deno, "sink", to, port],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = sink.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  try {
    while (!out.includes("listening\n")) {
      const r = await lines.read();
      if (r.done) throw new Error("the sink did not start");
      out += r.value;
    }
    const sent = await exec([
      "ip",
      "netns",
      "exec",
      fromNetns,
      ...deno,
      "send",
      to,
      port,
      String(2 * 1024 * 1024),
    ]);
    assertEquals(sent.code, 0, sent.stderr);
    for (let r = await lines.read(); !r.done; r = await lines.read()) {
      out += r.value;
    }
    const got = JSON.parse(out.split("\n")[1]) as {
      bytes: number;
      from: string;
    };
    assertEquals(Number(sent.stdout.trim()), got.bytes, "the sender's view");
    return got;
  } finally {
    try {
      sink.kill("SIGKILL");
    } catch {
      // exited
    }
    await sink.status;
  }
}

/** The first pod on a node. */
function podOn(demo: Demo, n: DemoNode) {
  const p = demo.pods.find((p) => p.node === n);
  if (!p) throw new Error(`no pod on ${n.name}`);
  return p;
}

/** Pods on two different nodes: the first of each. */
function podPair(demo: Demo, a: DemoNode, b: DemoNode) {
  return [podOn(demo, a), podOn(demo, b)] as const;
}

async function ipv6Only(backend: Backend, tag: string): Promise<void> {
  await withCluster(tag, { backend, stack: "ipv6", nodes: 3 }, async (d) => {
    const [server, n2, n3] = d.topo.nodes;
    // The underlay is IPv6-only: no IPv4 address on any node's uplink.
    for (const n of d.topo.nodes) {
      const a = await exec(["ip", "-n", n.netns, "-4", "-o", "addr", "show"]);
      assertEquals(a.stdout.includes("eth0"), false, `${n.name}: ${a.stdout}`);
    }
    assertEquals(server.ip, "fd77::1");

    // Started as K3s's IPv6 documentation says, nothing else added.
    assertEquals(await argsOf(d, "node1 server"), [
      "--node-name",
      "node1",
      "--node-ip",
      "fd77::1",
      "--flannel-backend",
      backend,
      "--cluster-cidr",
      "fd42::/56",
      "--service-cidr",
      "fd43::/112",
      "--flannel-ipv6-masq",
    ]);
    const agentArgs = await argsOf(d, "node2 agent");
    assertEquals(agentArgs.slice(0, 5), [
      "--node-name",
      "node2",
      "--server",
      "https://[fd77::1]:6443",
      "--token",
    ]);
    assertEquals(agentArgs.length, 6);
    const serverLog = await Deno.readTextFile(d.proc("node1 server")!.logFile);
    assertStringIncludes(serverLog, "listening on https://[::]:6443");

    // The demo's matrix first: it waits until everything is up.
    await matrixPasses(d);

    // The agents detected their node IPs; each node has an IPv6 pod CIDR.
    for (const n of d.topo.nodes) {
      const node = await nodeJSON(d, n.name);
      assertEquals(
        node.status.addresses.filter((a) => a.type === "InternalIP")
          .map((a) => a.address),
        [n.ip],
      );
      assert(
        node.spec.podCIDRs?.length === 1 &&
          node.spec.podCIDRs[0].startsWith("fd42:") &&
          node.spec.podCIDRs[0].endsWith("/64"),
        `${n.name} podCIDRs ${node.spec.podCIDRs}`,
      );
      // The server reaches the agent through its tunnel (node proxy).
      const st = await proxyStatus(d, n);
      assertEquals([st.nodeName, st.nodeIPs], [n.name, [n.ip]]);
    }

    // The node proxy above reached the agents through their tunnels.
    for (const n of [n2, n3]) {
      const log = await Deno.readTextFile(d.proc(`${n.name} agent`)!.logFile);
      assertStringIncludes(log, "tunnel: connected to https://[fd77::1]:6443");
    }

    // Pod to pod across nodes (agent to agent, and agent to server):
    // ping -6 and a 2 MiB TCP transfer, arriving with the pod's own address.
    for (const [a, b] of [podPair(d, n2, n3), podPair(d, n3, server)]) {
      assertEquals(await ping6(a.netns, b.ip), "3", `${a.name} -> ${b.name}`);
      const t = await transfer(a.netns, b.netns, b.ip);
      assertEquals(t, { bytes: 2 * 1024 * 1024, from: a.ip });
    }

    // Leaving the cluster (the underlay's own address): masqueraded to the
    // node's address by --flannel-ipv6-masq.
    d.responders.serve(`/run/netns/${d.topo.underlay}`, "underlay");
    for (const n of d.topo.nodes) {
      const p = podOn(d, n);
      assertEquals(
        await tcpCheck(p.netns, "fd77::fe", RESPONDER_PORT, "underlay", n.ip),
        null,
      );
    }

    // weft token show prints the bracketed join URL.
    const show = await exec([
      ...d.topo.enter(server),
      ...d.self,
      "token",
      "show",
    ]);
    assertEquals(show.code, 0, show.stderr);
    assertStringIncludes(
      show.stdout,
      "join: weft agent --server https://[fd77::1]:6443 --token 'K10",
    );
  });
}

Deno.test("IPv6-only underlay, vxlan: agents join with the defaults, pods talk, tunnel, masquerade, node proxy", async () => {
  await ipv6Only("vxlan", "v6vx");
});

Deno.test("IPv6-only underlay, host-gw: agents join with the defaults, pods talk, tunnel, masquerade, node proxy", async () => {
  await ipv6Only("host-gw", "v6hg");
});

Deno.test("IPv6-only underlay, wireguard-native: agents join with the defaults, pods talk, tunnel, masquerade, node proxy", async () => {
  await ipv6Only("wireguard-native", "v6wg");
});

Deno.test("dual-stack with IPv6 primary: node IPs and pod CIDRs IPv6 first, both families talk", async () => {
  await withCluster(
    "v6ds",
    { backend: "vxlan", stack: "dual6", nodes: 2 },
    async (d) => {
      const [server, n2] = d.topo.nodes;
      assertEquals(server.ips, ["fd77::1", "10.250.0.11"]);
      assertEquals((await argsOf(d, "node1 server")).slice(4), [
        "--flannel-backend",
        "vxlan",
        "--cluster-cidr",
        "fd42::/56,10.42.0.0/16",
        "--service-cidr",
        "fd43::/112,10.43.0.0/16",
        "--flannel-ipv6-masq",
      ]);
      await matrixPasses(d);
      // The agent was given no --node-ip: detection put IPv6 first.
      const node = await nodeJSON(d, n2.name);
      assertEquals(
        node.status.addresses.filter((a) => a.type === "InternalIP")
          .map((a) => a.address),
        ["fd77::2", "10.250.0.12"],
      );
      assertEquals(node.spec.podCIDRs?.map((c) => c.includes(":")), [
        true,
        false,
      ]);
      assertEquals((await proxyStatus(d, n2)).nodeIPs, [
        "fd77::2",
        "10.250.0.12",
      ]);
      // The admin kubeconfig speaks to the primary family's loopback. (The
      // matrix above checked both families, pod to pod and pod to node
      // (masqueraded), and the tunnels.)
      const kc = await Deno.readTextFile(
        d.topo.path(server, "/etc/weft/weft.yaml"),
      );
      assertStringIncludes(kc, "https://[::1]:6443");
      const [a, b] = podPair(d, n2, server);
      assertEquals(a.ips.map((ip) => ip.includes(":")), [true, false]);
      assertEquals(await ping6(a.netns, b.ip), "3");
    },
  );
});
