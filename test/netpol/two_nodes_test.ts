// Network policy across two nodes: pod traffic between nodes is routed
// through the forward hook of both; each node enforces its own pods'
// ingress and egress, and traffic from another node is not "own node".

import { assertEquals } from "@std/assert";
import {
  compile,
  NetpolTable,
  type NetworkPolicy,
} from "../../src/netpol/mod.ts";
import { twoNodes } from "./_two_nodes.ts";
import type { PodNode, TestPod } from "./_pods.ts";

Deno.test("two nodes: ingress, egress and node traffic are judged on the pod's own node, IPv4 and IPv6", async () => {
  await using c = await twoNodes("np2");
  const [a1, b1] = await c.n1.add([
    { name: "a1", namespace: "x", labels: { role: "client" } },
    { name: "b1", namespace: "x", labels: { role: "other" } },
  ]);
  const [s2] = await c.n2.add([
    { name: "s2", namespace: "x", labels: { role: "server" } },
  ]);
  const tables = {
    n1: new NetpolTable({ netns: c.n1.host.path }),
    n2: new NetpolTable({ netns: c.n2.host.path }),
  };
  const enforce = async (policies: NetworkPolicy[]) => {
    const pods = [...c.n1.views("n1"), ...c.n2.views("n2")];
    for (const [name, node] of [["n1", c.n1], ["n2", c.n2]] as const) {
      tables[name].bridgeNetfilter();
      await tables[name].sync(compile({
        nodeName: name,
        nodeIPs: [...c.ips[name], ...gatewaysOf(node)],
        policies,
        pods,
        namespaces: [],
      }));
    }
  };
  const reach = async (from: TestPod | [PodNode, "host"], to: TestPod) => {
    const targets: [string, "tcp", number][] = [[to.ip4, "tcp", 80], [
      to.ip6,
      "tcp",
      80,
    ]];
    return Array.isArray(from)
      ? await from[0].probe("host", targets)
      : await (c.n1.pods.includes(from) ? c.n1 : c.n2).probe(from, targets);
  };

  await enforce([]);
  assertEquals(await reach(a1, s2), [true, true]);
  assertEquals(await reach(b1, s2), [true, true]);

  await enforce([{
    metadata: { namespace: "x", name: "server" },
    spec: {
      podSelector: { matchLabels: { role: "server" } },
      ingress: [{
        from: [{ podSelector: { matchLabels: { role: "client" } } }],
      }],
    },
  }]);
  assertEquals(await reach(a1, s2), [true, true]);
  assertEquals(await reach(b1, s2), [false, false]);
  // The other node is not the pod's own node; its own node still is.
  assertEquals(await reach([c.n1, "host"], s2), [false, false]);
  assertEquals(await reach([c.n2, "host"], s2), [true, true]);

  // Egress of a1, judged on n1: only to the server.
  await enforce([{
    metadata: { namespace: "x", name: "client" },
    spec: {
      podSelector: { matchLabels: { role: "client" } },
      policyTypes: ["Egress"],
      egress: [{ to: [{ podSelector: { matchLabels: { role: "server" } } }] }],
    },
  }]);
  assertEquals(await reach(a1, s2), [true, true]);
  assertEquals(await reach(a1, b1), [false, false]);
  assertEquals(await reach(b1, a1), [true, true]);
});

function gatewaysOf(node: PodNode): string[] {
  const p = node.pods[0];
  return [
    p.ip4.replace(/\.\d+$/, ".1"),
    p.ip6.replace(/::[0-9a-f]+$/, "::1"),
  ];
}
