// Rogue leases (issue 11, row 1, the agent side): a podCIDR outside the
// network or with another mask is ignored (logged), and a lease whose route
// would replace a route weft did not make (the connected underlay, an
// operator's route) installs nothing; removing such a lease removes nothing.

import { assert, assertEquals } from "@std/assert";
import { Agent } from "./_agent.ts";
import { FakeNodes, vxlanNode } from "./_fake_nodes.ts";
import { overlayState } from "./_flannel1.ts";
import { eventually, Underlay } from "./_underlay.ts";

const MAC1 = "0a:58:0a:2a:02:00";
const ROGUE = "0a:58:66:66:66:66";

type IpRoute = {
  dst: string;
  dev: string;
  protocol?: string;
  gateway?: string;
};

Deno.test("lease guard: rogue podCIDRs install nothing, the underlay connected route and others' routes survive", async () => {
  await using u = await Underlay.create(2);
  const ns = u.nodes[0].ns;
  const dir = await Deno.makeTempDir({ prefix: "weft-guard-" });
  const src = new FakeNodes();
  src.put({ metadata: { name: "n0" }, spec: { podCIDR: "10.42.1.0/24" } });
  src.put(vxlanNode("n1", "10.42.2.0/24", "192.168.77.2", MAC1));
  // A connected network inside the cluster network (an address on a
  // bridge), and an operator's route for another subnet of it.
  await ns.sh("ip", "link", "add", "br9", "type", "bridge");
  await ns.sh("ip", "addr", "add", "10.42.7.1/24", "dev", "br9");
  await ns.sh("ip", "link", "set", "br9", "up");
  await ns.sh(
    "ip",
    "route",
    "add",
    "10.42.6.0/24",
    "via",
    "192.168.77.6",
    "dev",
    "eth0",
    "proto",
    "static",
  );
  const mainRoutes = async () =>
    (await ns.sh("ip", "route", "show", "table", "main")).trim().split("\n")
      .map((l) => l.trim()).sort();
  const wantRoutes = [
    ...(await mainRoutes()),
    "10.42.2.0/24 via 10.42.2.0 dev flannel.1 proto 87 onlink",
  ].sort();
  const a = new Agent({
    nodeName: "n0",
    nodes: src,
    dataDir: dir,
    runDir: `${dir}/run`,
    netns: ns.path,
    reconcileIntervalMs: 60_000,
    rulesIntervalMs: 60_000,
  });
  try {
    await eventually("ready", () => a.ready || !!a.error, 30_000);
    assertEquals(a.error, null, a.logs.join("\n"));
    const want = {
      routes: ["10.42.2.0/24 via 10.42.2.0"],
      neighs: [`10.42.2.0 ${MAC1}`],
      fdb: [`${MAC1} 192.168.77.2`],
    };
    await eventually(
      "n1's lease",
      async () =>
        JSON.stringify(await overlayState(ns)) === JSON.stringify(want),
    );
    const rogues = [
      vxlanNode("rogue-underlay", "192.168.77.0/24", "192.168.77.66", ROGUE),
      vxlanNode("rogue-25", "10.42.2.0/25", "192.168.77.66", ROGUE),
      vxlanNode("rogue-all", "0.0.0.0/0", "192.168.77.66", ROGUE),
      vxlanNode("rogue-network", "10.42.0.0/16", "192.168.77.66", ROGUE),
      vxlanNode("rogue-connected", "10.42.7.0/24", "192.168.77.66", ROGUE),
      vxlanNode("rogue-static", "10.42.6.0/24", "192.168.77.66", ROGUE),
    ];
    const before = a.logs.length;
    for (const r of rogues) src.put(r);
    const logged = (node: string, text: string) =>
      a.logs.some((l) => l.includes(node) && l.includes(text));
    await eventually(
      "every rogue logged",
      () =>
        logged("rogue-underlay", "outside the flannel network") &&
        logged("rogue-all", "outside the flannel network") &&
        logged("rogue-25", "does not have the node mask /24") &&
        logged("rogue-network", "does not have the node mask /24") &&
        logged("rogue-connected", "10.42.7.0/24 dev br9 (proto 2) exists") &&
        logged("rogue-static", "not weft's"),
    );
    assertEquals(
      a.logs.slice(before).filter((l) => l.startsWith("reconcile")),
      [],
    );
    assertEquals(await overlayState(ns), want);
    assertEquals(await mainRoutes(), wantRoutes);
    const connected = (await ns.json<IpRoute[]>("ip", "-j", "route", "show"))
      .filter((r) => r.protocol === "kernel").map((r) => `${r.dst} ${r.dev}`);
    assert(connected.includes("192.168.77.0/24 eth0"), connected.join(","));
    assert(connected.includes("10.42.7.0/24 br9"), connected.join(","));

    // The rogues go away: nothing of anyone else's is removed.
    for (const r of rogues) src.remove(r.metadata.name);
    await new Promise((r) => setTimeout(r, 500));
    assertEquals(await overlayState(ns), want);
    assertEquals(await mainRoutes(), wantRoutes);
  } finally {
    await a.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
