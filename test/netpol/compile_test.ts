import { assert, assertEquals } from "@std/assert";
import {
  compile,
  CompileCache,
  type CompileInput,
  diffOps,
  emptyState,
  namespaceView,
  type NetworkPolicy,
  type NetworkPolicySpec,
  type PodView,
  podView,
  selectorMatches,
} from "../../src/netpol/mod.ts";
import {
  cidrMinus,
  rangeElement,
  unionRanges,
} from "../../src/netpol/ranges.ts";
import { CIDR } from "../../src/net/mod.ts";

const pod = (
  ns: string,
  name: string,
  labels: Record<string, string>,
  ips: string[],
  node = "n1",
  ports: PodView["ports"] = [],
): PodView => ({ namespace: ns, name, labels, ips, nodeName: node, ports });
const pol = (
  ns: string,
  name: string,
  spec: NetworkPolicySpec,
): NetworkPolicy => ({
  metadata: { namespace: ns, name },
  spec,
});
const PODS = [
  pod("x", "a", { app: "web" }, ["10.0.0.2", "fd00::2"], "n1", [
    { name: "http", port: 8080, protocol: "TCP" },
    { name: "dns", port: 53, protocol: "UDP" },
  ]),
  pod("x", "b", { app: "web" }, ["10.0.0.3"]),
  pod("x", "c", { app: "db" }, ["10.0.0.4"]),
  pod("y", "a", { app: "web" }, ["10.0.1.2"], "n2", [
    { name: "http", port: 9090, protocol: "TCP" },
  ]),
];
const input = (policies: NetworkPolicy[], pods = PODS): CompileInput => ({
  nodeName: "n1",
  nodeIPs: ["192.168.0.1", "10.0.0.1"],
  policies,
  pods,
  namespaces: [{ name: "x", labels: { team: "x" } }, {
    name: "y",
    labels: { team: "y" },
  }],
});
const web = pol("x", "web", {
  podSelector: { matchLabels: { app: "web" } },
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "y" } } }] }],
});

Deno.test("compile(): no policy, no map entry: every pod is allowed everything", () => {
  const s = compile(input([]));
  assertEquals([...s.chains.keys()], []);
  for (const m of s.maps.values()) assertEquals(m.elements.size, 0);
  assertEquals([...s.sets.get("node4")!.elements], ["192.168.0.1", "10.0.0.1"]);
});

Deno.test("compile(): selected local pods share one group chain; unselected and remote pods are in no map", () => {
  const s = compile(input([web]));
  const ing4 = s.maps.get("ingress4")!.elements;
  assertEquals([...ing4.keys()].sort(), ["10.0.0.2", "10.0.0.3"]);
  assertEquals(new Set(ing4.values()).size, 1);
  assertEquals([...s.maps.get("ingress6")!.elements.keys()], ["fd00::2"]);
  assertEquals(s.maps.get("egress4")!.elements.size, 0);
  const group = ing4.get("10.0.0.2")!.replace("goto ", "");
  const [jump, drop] = s.chains.get(group)!;
  assert(jump.startsWith("jump pi-"), jump);
  assertEquals(drop, "drop");
  // The peer set holds y's pod, which lives on another node.
  const peers = [...s.sets.entries()].find(([n]) =>
    n.startsWith("sel-") && n.endsWith("-4")
  )!;
  assertEquals([...peers[1].elements], ["10.0.1.2"]);
});

Deno.test("compile(): policyTypes defaulting: Ingress always, Egress only with egress rules or when listed", () => {
  const cases: [NetworkPolicySpec, boolean, boolean][] = [
    [{ podSelector: {} }, true, false],
    [{ podSelector: {}, egress: [{}] }, true, true],
    [{ podSelector: {}, egress: [] }, true, false],
    [{ podSelector: {}, policyTypes: ["Egress"] }, false, true],
    [{ podSelector: {}, policyTypes: ["Ingress", "Egress"] }, true, true],
  ];
  for (const [spec, ing, egr] of cases) {
    const s = compile(input([pol("x", "p", spec)]));
    assertEquals(s.maps.get("ingress4")!.elements.has("10.0.0.4"), ing);
    assertEquals(s.maps.get("egress4")!.elements.has("10.0.0.4"), egr);
  }
});

Deno.test("compile(): rules: empty rule list denies, empty peers allow all, ports by number, range, protocol, named", () => {
  const rules = (spec: Partial<NetworkPolicySpec>) => {
    const s = compile(
      input([
        pol("x", "p", { podSelector: { matchLabels: { app: "db" } }, ...spec }),
      ]),
    );
    return [...s.chains.entries()].find(([n]) => n.startsWith("pi-"))?.[1] ??
      [...s.chains.entries()].find(([n]) => n.startsWith("pe-"))![1];
  };
  assertEquals(rules({ ingress: [] }), []);
  assertEquals(rules({ ingress: [{}] }), ["accept"]);
  assertEquals(
    rules({
      ingress: [{
        ports: [{ port: 80 }, { protocol: "UDP", port: 1000, endPort: 2000 }, {
          protocol: "SCTP",
        }],
      }],
    }),
    [
      "meta l4proto tcp th dport 80 accept",
      "meta l4proto udp th dport 1000-2000 accept",
      "meta l4proto sctp accept",
    ],
  );
  const r = rules({ ingress: [{ from: [{ ipBlock: { cidr: "fd00::/8" } }] }] });
  assertEquals(r.length, 1);
  assert(r[0].startsWith("ip6 saddr @s-"), r[0]);
});

Deno.test("compile(): a named port resolves per pod: ingress from the selected pods, egress from the destinations", () => {
  const named = (ingress: boolean) => {
    const spec: NetworkPolicySpec = ingress
      ? { podSelector: {}, ingress: [{ ports: [{ port: "http" }] }] }
      : {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [{
          ports: [{ port: "http" }, { port: "dns", protocol: "UDP" }],
        }],
      };
    const s = compile(input([pol("x", "p", spec)]));
    return [...s.sets.entries()].filter(([n]) => /-n[46]$/.test(n))
      .flatMap(([, d]) => [...d.elements]).sort();
  };
  assertEquals(named(true), ["10.0.0.2 . tcp . 8080", "fd00::2 . tcp . 8080"]);
  assertEquals(named(false), [
    "10.0.0.2 . tcp . 8080",
    "10.0.0.2 . udp . 53",
    "10.0.1.2 . tcp . 9090",
    "fd00::2 . tcp . 8080",
    "fd00::2 . udp . 53",
  ]);
});

Deno.test("compile(): policies with the same selector peer share its set", () => {
  const peer = { namespaceSelector: { matchLabels: { team: "y" } } };
  const s = compile(input([
    pol("x", "p1", {
      podSelector: { matchLabels: { app: "web" } },
      ingress: [{ from: [peer] }],
    }),
    pol("x", "p2", {
      podSelector: { matchLabels: { app: "db" } },
      ingress: [{
        from: [{ namespaceSelector: { matchLabels: { team: "y" } } }],
        ports: [{ port: 80 }],
      }],
    }),
    // Same pod selector, other namespace: another set.
    pol("x", "p3", {
      podSelector: {},
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }],
    }),
    pol("y", "p4", {
      podSelector: {},
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "web" } } }] }],
    }),
  ], [...PODS, pod("y", "local", {}, ["10.0.0.9"])]));
  const sel4 = [...s.sets.keys()].filter((n) =>
    n.startsWith("sel-") && n.endsWith("-4")
  );
  assertEquals(sel4.length, 3);
});

Deno.test("compile(): ipBlock except becomes disjoint ranges of an interval set", () => {
  const s = compile(input([pol("x", "p", {
    podSelector: {},
    ingress: [{
      from: [
        {
          ipBlock: {
            cidr: "10.0.0.0/8",
            except: ["10.1.0.0/16", "10.2.3.4/32"],
          },
        },
        { ipBlock: { cidr: "10.1.2.0/24" } },
      ],
    }],
  })]));
  const [, set] = [...s.sets.entries()].find(([n]) => n.endsWith("-b4"))!;
  assert(set.interval);
  assertEquals([...set.elements], [
    "10.0.0.0-10.0.255.255",
    "10.1.2.0-10.1.2.255",
    "10.2.0.0-10.2.3.3",
    "10.2.3.5-10.255.255.255",
  ]);
});

Deno.test("ranges: cidrMinus and unionRanges", () => {
  const r = (c: string, ex: string[]) =>
    cidrMinus(CIDR.parse(c), ex.map((e) => CIDR.parse(e))).map(rangeElement);
  assertEquals(r("10.0.0.0/30", []), ["10.0.0.0-10.0.0.3"]);
  assertEquals(r("10.0.0.5/30", ["10.0.0.4/31"]), ["10.0.0.6-10.0.0.7"]);
  assertEquals(r("10.0.0.0/30", ["10.0.0.0/30"]), []);
  assertEquals(r("fd00::/126", ["fd00::1/128"]), ["fd00::", "fd00::2-fd00::3"]);
  assertEquals(
    unionRanges([
      { family: 4, first: 5n, last: 9n },
      { family: 4, first: 1n, last: 4n },
      { family: 4, first: 20n, last: 30n },
    ]).map((x) => [x.first, x.last]),
    [[1n, 9n], [20n, 30n]],
  );
});

Deno.test("selectorMatches(): matchLabels and the four operators", () => {
  const l = { a: "1", b: "2" };
  const cases: [Parameters<typeof selectorMatches>[0], boolean][] = [
    [{}, true],
    [{ matchLabels: { a: "1" } }, true],
    [{ matchLabels: { a: "2" } }, false],
    [
      { matchExpressions: [{ key: "a", operator: "In", values: ["1", "3"] }] },
      true,
    ],
    [
      { matchExpressions: [{ key: "c", operator: "In", values: ["1"] }] },
      false,
    ],
    [
      { matchExpressions: [{ key: "a", operator: "NotIn", values: ["1"] }] },
      false,
    ],
    [
      { matchExpressions: [{ key: "c", operator: "NotIn", values: ["1"] }] },
      true,
    ],
    [{ matchExpressions: [{ key: "b", operator: "Exists" }] }, true],
    [{ matchExpressions: [{ key: "b", operator: "DoesNotExist" }] }, false],
    [{
      matchLabels: { a: "1" },
      matchExpressions: [{ key: "z", operator: "DoesNotExist" }],
    }, true],
  ];
  for (const [sel, want] of cases) {
    assertEquals(selectorMatches(sel, l), want, JSON.stringify(sel));
  }
});

Deno.test("diffOps(): a pod, a label, a policy change elements or a few rules, never the table", () => {
  const base = compile(input([web]));
  const more = [...PODS, pod("y", "b", {}, ["10.0.1.3", "fd00:1::3"], "n2")];
  const added = diffOps(base, compile(input([web], more)));
  // y/b is in namespace y: one element per family, nothing else.
  assertEquals(added.length, 2, added.join("\n"));
  assert(/ sel-[0-9a-f]{16}-4 \{ 10\.0\.1\.3 \}$/.test(added[0]), added[0]);
  assert(/ sel-[0-9a-f]{16}-6 \{ fd00:1::3 \}$/.test(added[1]), added[1]);
  // x/c labelled web: it joins the group through the map, nothing else.
  const relabelled = PODS.map((p) =>
    p.name === "c" ? { ...p, labels: { app: "web" } } : p
  );
  assertEquals(diffOps(base, compile(input([web], relabelled))), [
    `add element inet weft-netpol ingress4 { 10.0.0.4 : ${
      base.maps.get("ingress4")!.elements.get("10.0.0.2")
    } }`,
  ]);
  // A second policy on the db pod: its chains and sets, no reload.
  const db = pol("x", "db", {
    podSelector: { matchLabels: { app: "db" } },
    ingress: [],
  });
  const ops = diffOps(base, compile(input([web, db])));
  assert(ops.length <= 6, ops.join("\n"));
  assert(!ops.some((o) => o.includes("table")), ops.join("\n"));
  // Removal: references go before what they reference.
  const back = diffOps(compile(input([web, db])), base);
  const iMap = back.findIndex((o) =>
    o.startsWith("delete element inet weft-netpol ingress4")
  );
  const iChain = back.findIndex((o) => o.startsWith("delete chain"));
  assert(iMap >= 0 && iChain > iMap, back.join("\n"));
  // From nothing, the diff builds everything the full load holds.
  assert(diffOps(emptyState(), base).length > 0);
  assertEquals(diffOps(base, compile(input([web]))), []);
});

Deno.test("podView(): host network, finished and address-less pods are left out; bad ports are dropped", () => {
  const meta = { namespace: "x", name: "p", labels: { a: "b" } };
  assertEquals(
    podView({
      metadata: meta,
      spec: { hostNetwork: true, containers: [] },
      status: { podIP: "10.0.0.2" },
    }),
    null,
  );
  assertEquals(
    podView({
      metadata: meta,
      spec: { containers: [] },
      status: { phase: "Succeeded", podIP: "10.0.0.2" },
    }),
    null,
  );
  assertEquals(
    podView({ metadata: meta, spec: { containers: [] }, status: {} }),
    null,
  );
  assertEquals(
    podView({
      metadata: meta,
      spec: {
        nodeName: "n1",
        containers: [{
          name: "c",
          ports: [
            { name: "http", containerPort: 80 },
            { name: "bad", containerPort: 70000 },
            { containerPort: 81 },
            { name: "dns", containerPort: 53, protocol: "UDP" },
          ],
        }],
      },
      status: { podIP: "10.0.0.2" },
    }),
    {
      namespace: "x",
      name: "p",
      labels: { a: "b" },
      ips: ["10.0.0.2"],
      nodeName: "n1",
      ports: [{ name: "http", port: 80, protocol: "TCP" }, {
        name: "dns",
        port: 53,
        protocol: "UDP",
      }],
    },
  );
});

Deno.test("podView()/namespaceView(): hostile objects (wrong types everywhere) give a view or null, never a throw", () => {
  const junk: unknown[] = [
    { metadata: {}, spec: { containers: 5 }, status: { podIPs: "10.0.0.1" } },
    { metadata: { labels: [1] }, spec: [], status: { podIP: 7 } },
    {
      metadata: { labels: { a: 1, b: "ok" } },
      spec: { containers: [null, { ports: [null, { name: 5 }] }] },
      status: { podIPs: [null, { ip: 3 }, { ip: "10.0.0.9" }] },
    },
    { metadata: null, spec: null, status: null },
  ];
  const views = junk.map((j) => podView(j as never));
  assertEquals(views.slice(0, 2), [null, null]);
  assertEquals(views[2]?.ips, ["10.0.0.9"]);
  assertEquals(views[2]?.labels, { b: "ok" });
  assertEquals(views[3], null);
  assertEquals(
    namespaceView({ metadata: { name: "n", labels: { x: 5 } as never } })
      .labels,
    {
      "kubernetes.io/metadata.name": "n",
    },
  );
  // Garbage addresses are skipped by the compiler.
  const s = compile(
    input([web], [pod("x", "a", { app: "web" }, ["not-an-ip", "10.0.0.2"])]),
  );
  assertEquals([...s.maps.get("ingress4")!.elements.keys()], ["10.0.0.2"]);
});

function plain(s: ReturnType<typeof compile>) {
  const sort = <T>(xs: Iterable<T>) => [...xs].sort();
  return {
    sets: Object.fromEntries(
      sort(s.sets.keys()).map((n) => {
        const d = s.sets.get(n)!;
        return [n, {
          type: d.type,
          interval: d.interval,
          el: sort(d.elements),
        }];
      }),
    ),
    maps: Object.fromEntries(
      sort(s.maps.keys()).map((
        n,
      ) => [n, sort(s.maps.get(n)!.elements.entries())]),
    ),
    chains: Object.fromEntries(
      sort(s.chains.keys()).map((n) => [n, s.chains.get(n)]),
    ),
  };
}

Deno.test("compile() with a CompileCache equals a fresh compile after every random change, and recompiles only touched policies", () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const apps = ["a", "b", "c", "d"];
  const mkPod = (i: number): PodView =>
    pod(
      `ns${rnd(3)}`,
      `p${i}`,
      { app: apps[rnd(4)] },
      [`10.0.${rnd(2)}.${i + 2}`, `fd00::${(i + 2).toString(16)}`],
      rnd(3) === 0 ? "n2" : "n1",
      rnd(2) ? [{ name: "http", port: 8000 + rnd(3), protocol: "TCP" }] : [],
    );
  const mkPol = (i: number): NetworkPolicy =>
    pol(`ns${i % 3}`, `pol${i}`, {
      podSelector: rnd(4) === 0 ? {} : { matchLabels: { app: apps[rnd(4)] } },
      ingress: [{
        from: [
          {
            podSelector: {
              matchExpressions: [{
                key: "app",
                operator: "In",
                values: [apps[rnd(4)], apps[rnd(4)]],
              }],
            },
          },
          ...(rnd(2)
            ? [{
              namespaceSelector: { matchLabels: { team: `t${rnd(2)}` } },
              podSelector: { matchLabels: { app: apps[rnd(4)] } },
            }]
            : []),
          ...(rnd(3) === 0
            ? [{ ipBlock: { cidr: "10.0.0.0/16", except: ["10.0.1.0/24"] } }]
            : []),
        ],
        ports: rnd(2) ? [{ port: "http" }] : [{ port: 80 }],
      }],
      ...(rnd(2)
        ? {
          egress: [{
            to: [{ namespaceSelector: {} }],
            ports: [{ port: "http" }],
          }],
        }
        : {}),
    });
  const pods = new Map<number, PodView>();
  const pols = new Map<number, NetworkPolicy>();
  const nss = new Map<
    string,
    { name: string; labels: Record<string, string> }
  >();
  for (let i = 0; i < 30; i++) pods.set(i, mkPod(i));
  for (let i = 0; i < 12; i++) pols.set(i, mkPol(i));
  for (let i = 0; i < 3; i++) {
    nss.set(`ns${i}`, { name: `ns${i}`, labels: { team: `t${i % 2}` } });
  }
  const cache = new CompileCache();
  const inputNow = (): CompileInput => ({
    nodeName: "n1",
    nodeIPs: ["192.168.0.1"],
    policies: [...pols.values()],
    pods: [...pods.values()],
    namespaces: [...nss.values()],
  });
  compile(inputNow(), cache);
  let reused = 0;
  for (let step = 0; step < 300; step++) {
    const what = rnd(6);
    if (what === 0) {
      const k = rnd(40);
      pods.set(k, mkPod(k));
    } else if (what === 1) pods.delete(rnd(40));
    else if (what === 2) {
      const k = rnd(30);
      const p = pods.get(k);
      if (p) pods.set(k, { ...p, labels: { app: apps[rnd(4)] } });
    } else if (what === 3) pols.set(rnd(15), mkPol(rnd(15)));
    else if (what === 4) pols.delete(rnd(15));
    else {
      const n = `ns${rnd(3)}`;
      nss.set(n, { name: n, labels: { team: `t${rnd(3)}` } });
    }
    const inc = compile(inputNow(), cache);
    reused += pols.size - cache.recompiled;
    assertEquals(plain(inc), plain(compile(inputNow())), `step ${step}`);
  }
  assert(reused > 100, `only ${reused} fragments were reused`);
});

Deno.test("compile() with a CompileCache: a pod change recompiles only the policies that select or peer it", () => {
  const cache = new CompileCache();
  const policies = Array.from({ length: 20 }, (_, i) =>
    pol("x", `p${i}`, {
      podSelector: { matchLabels: { app: `a${i}` } },
      ingress: [{
        from: [{ podSelector: { matchLabels: { app: `a${(i + 1) % 20}` } } }],
      }],
    }));
  const pods = Array.from(
    { length: 40 },
    (_, i) => pod("x", `p${i}`, { app: `a${i % 20}` }, [`10.0.0.${i + 2}`]),
  );
  const inp = (ps: PodView[]) => ({ ...input(policies, ps), namespaces: [] });
  compile(inp(pods), cache);
  assertEquals(cache.recompiled, 20);
  compile(inp(pods), cache);
  assertEquals(cache.recompiled, 0);
  // p5 (app a5) goes to a7: policies 5 and 7 select it, 4 and 6 peer it.
  const moved = pods.map((p) =>
    p.name === "p5" ? { ...p, labels: { app: "a7" } } : p
  );
  compile(inp(moved), cache);
  assertEquals(cache.recompiled, 4);
});
