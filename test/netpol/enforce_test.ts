// NetworkPolicy semantics checked with real traffic, as the Kubernetes
// network policy e2e does it: pods made through weft's CNI on two nodes
// (bridge cni0, IPv4 and IPv6, routed between the nodes), each node's
// compiled state loaded with nft into its namespace, and the truth table of
// every pod probing every other on TCP/UDP 80 and 81 compared per case.

import { assertEquals } from "@std/assert";
import {
  compile,
  type NamespaceView,
  NetpolTable,
  type NetworkPolicy,
  type NetworkPolicySpec,
} from "../../src/netpol/mod.ts";
import { pings } from "../harness/cni_ns.ts";
import { type Expect, mismatches, type Probe } from "./_matrix.ts";
import type { TestPod } from "./_pods.ts";
import { twoNodes } from "./_two_nodes.ts";

const NAMESPACES: NamespaceView[] = ["x", "y", "z"].map((n) => ({
  name: n,
  labels: { "kubernetes.io/metadata.name": n, ns: n },
}));

function policy(
  ns: string,
  name: string,
  spec: NetworkPolicySpec,
): NetworkPolicy {
  return { metadata: { namespace: ns, name }, spec };
}

const is = (p: TestPod, id: string) =>
  `${p.spec.namespace}/${p.spec.name}` === id;
const all: Expect = () => true;

Deno.test("network policy truth table on two nodes: 3 namespaces x 3 pods, every v1 semantic holds for real TCP/UDP traffic, IPv4 and IPv6", async (t) => {
  await using c = await twoNodes("npe");
  // Pods alternate between the nodes: x/a n1, x/b n2, x/c n1, y/a n2, ...
  const specs = ["x", "y", "z"].flatMap((ns) =>
    ["a", "b", "c"].map((name) => ({
      name,
      namespace: ns,
      labels: { pod: name },
      ports: name === "a"
        ? [{ name: "serve-81-udp", port: 81, protocol: "UDP" as const }]
        : [],
    }))
  );
  await c.n1.add(specs.filter((_, i) => i % 2 === 0));
  await c.n2.add(specs.filter((_, i) => i % 2 === 1));
  const nodes = [
    { name: "n1", node: c.n1, ips: [...c.ips.n1, "10.22.0.1", "fd00:22::1"] },
    { name: "n2", node: c.n2, ips: [...c.ips.n2, "10.23.0.1", "fd00:23::1"] },
  ].map((n) => ({ ...n, table: new NetpolTable({ netns: n.node.host.path }) }));
  for (const n of nodes) assertEquals(n.table.bridgeNetfilter(), true);
  const everyPod = [...c.n1.pods, ...c.n2.pods];
  const pod = (id: string) => everyPod.find((p) => is(p, id))!;
  const nodeOf = (p: TestPod) => c.n1.pods.includes(p) ? c.n1 : c.n2;
  const enforce = async (policies: NetworkPolicy[]) => {
    const pods = [...c.n1.views("n1"), ...c.n2.views("n2")];
    for (const n of nodes) {
      await n.table.sync(compile({
        nodeName: n.name,
        nodeIPs: n.ips,
        policies,
        pods,
        namespaces: NAMESPACES,
      }));
      // Each step probes new flows: a UDP probe whose random source port
      // matches an earlier step's still-tracked flow would be "established"
      // (accepted whatever the policy), so the earlier flows are forgotten.
      const r = await n.node.host.run(["conntrack", "-F"]);
      assertEquals(r.code, 0, r.stderr);
    }
  };
  const check = async (
    name: string,
    policies: NetworkPolicy[],
    expect: Expect,
  ) => {
    await t.step(name, async () => {
      await enforce(policies);
      assertEquals(await mismatches(c.n1, expect, everyPod), []);
    });
  };
  const toXA = (p: Probe) => is(p.to, "x/a");

  await check("no policy: everything is allowed", [], all);
  await check(
    "deny all ingress in x",
    [policy("x", "deny", { podSelector: {}, policyTypes: ["Ingress"] })],
    (p) => p.to.spec.namespace !== "x",
  );
  await t.step(
    "deny all ingress: the node still reaches the pods, ping from a pod does not",
    async () => {
      const xa = pod("x/a");
      assertEquals(
        await nodeOf(xa).probe("host", [[xa.ip4, "tcp", 80], [
          xa.ip6,
          "udp",
          81,
        ]]),
        [true, true],
      );
      assertEquals(await pings(pod("y/a").ns, xa.ip4), false);
      assertEquals(await pings(pod("x/b").ns, pod("y/a").ip4), true);
    },
  );
  await check(
    "deny all egress in x",
    [policy("x", "deny", { podSelector: {}, policyTypes: ["Egress"] })],
    (p) => p.from.spec.namespace !== "x",
  );
  await check(
    "allow from a pod selector",
    [policy("x", "a", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: "b" } } }] }],
    })],
    (p) => !toXA(p) || is(p.from, "x/b"),
  );
  await check(
    "allow from a namespace selector",
    [policy("x", "a", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{
        from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }],
      }],
    })],
    (p) => !toXA(p) || p.from.spec.namespace === "y",
  );
  await check(
    "namespace and pod selector in one peer (AND)",
    [policy("x", "a", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{
        from: [{
          namespaceSelector: { matchLabels: { ns: "y" } },
          podSelector: { matchLabels: { pod: "a" } },
        }],
      }],
    })],
    (p) => !toXA(p) || is(p.from, "y/a"),
  );
  await check(
    "namespace and pod selector as two peers (OR)",
    [policy("x", "a", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{
        from: [
          { namespaceSelector: { matchLabels: { ns: "y" } } },
          { podSelector: { matchLabels: { pod: "b" } } },
        ],
      }],
    })],
    (p) => !toXA(p) || p.from.spec.namespace === "y" || is(p.from, "x/b"),
  );
  await check(
    "matchExpressions: In on pods, NotIn on namespaces",
    [policy("x", "a", {
      podSelector: {
        matchExpressions: [{ key: "pod", operator: "In", values: ["a"] }],
      },
      ingress: [{
        from: [{
          namespaceSelector: {
            matchExpressions: [{ key: "ns", operator: "NotIn", values: ["y"] }],
          },
        }],
      }],
    })],
    (p) => !toXA(p) || p.from.spec.namespace !== "y",
  );
  await t.step("ipBlock with except", async () => {
    const ya = pod("y/a");
    await enforce([policy("x", "a", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{
        from: [
          { ipBlock: { cidr: "10.22.0.0/15", except: [`${ya.ip4}/32`] } },
          { ipBlock: { cidr: "fd00::/16", except: [`${ya.ip6}/128`] } },
        ],
      }],
    })]);
    assertEquals(
      await mismatches(c.n1, (p) => !toXA(p) || !is(p.from, "y/a"), everyPod),
      [],
    );
  });
  await check(
    "a port range (endPort) on TCP",
    [policy("x", "a", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ ports: [{ protocol: "TCP", port: 81, endPort: 90 }] }],
    })],
    (p) => !toXA(p) || (p.proto === "tcp" && p.port === 81),
  );
  await check(
    "a named port, resolved from the pod's container ports (UDP)",
    [policy("x", "a", {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ ports: [{ protocol: "UDP", port: "serve-81-udp" }] }],
    })],
    (p) => !toXA(p) || (p.proto === "udp" && p.port === 81),
  );
  await check(
    "a named port in egress, resolved from the destination pods; Ingress defaulted in",
    [policy("x", "a", {
      podSelector: { matchLabels: { pod: "a" } },
      egress: [{ ports: [{ protocol: "UDP", port: "serve-81-udp" }] }],
    })],
    // No policyTypes: egress rules make it Ingress and Egress, and no
    // ingress rule means no ingress at all.
    (p) =>
      !toXA(p) && (!is(p.from, "x/a") ||
        (p.proto === "udp" && p.port === 81 && p.to.spec.name === "a")),
  );
  await t.step("egress to one CIDR only", async () => {
    const yb = pod("y/b");
    await enforce([policy("x", "a", {
      podSelector: { matchLabels: { pod: "a" } },
      policyTypes: ["Egress"],
      egress: [{
        to: [{ ipBlock: { cidr: `${yb.ip4}/32` } }, {
          ipBlock: { cidr: `${yb.ip6}/128` },
        }],
      }],
    })]);
    assertEquals(
      await mismatches(
        c.n1,
        (p) => !is(p.from, "x/a") || is(p.to, "y/b"),
        everyPod,
      ),
      [],
    );
  });
  await check(
    "ingress and egress policies together: x/a talks only to z",
    [
      policy("x", "a-in", {
        podSelector: { matchLabels: { pod: "a" } },
        ingress: [{
          from: [{ namespaceSelector: { matchLabels: { ns: "z" } } }],
        }],
      }),
      policy("x", "a-out", {
        podSelector: { matchLabels: { pod: "a" } },
        policyTypes: ["Egress"],
        egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: "z" } } }] }],
      }),
    ],
    (p) =>
      (!toXA(p) || p.from.spec.namespace === "z") &&
      (!is(p.from, "x/a") || p.to.spec.namespace === "z"),
  );
  await check(
    "policies removed: everything is allowed again",
    [],
    all,
  );
});
