import { assert, assertEquals } from "@std/assert";
import { Netlink } from "../../../ffi/mod.ts";
import { CIDR, IP } from "../../../src/net/mod.ts";
import {
  type Lease,
  parseNetConf,
  selectInterface,
} from "../../../src/flannel/mod.ts";
import { VxlanBackend } from "../../../src/flannel/backend/vxlan.ts";
import type { Netns } from "../../harness/netns.ts";
import { reaches, Underlay } from "../_underlay.ts";
import { flannelAddrs4, flannelLink, plantStale } from "../_flannel1.ts";

interface Node {
  ns: Netns;
  nl: Netlink;
  be: VxlanBackend;
  lease: Lease;
}

function setup(u: Underlay, confText: string, logs: string[] = []) {
  const conf = parseNetConf(confText);
  const nodes: Node[] = [];
  for (const [i, n] of u.nodes.entries()) {
    const nl = Netlink.open({ netns: n.ns.path });
    const ext = selectInterface(nl, {});
    const be = new VxlanBackend({ nl, conf, ext, log: (m) => logs.push(m) });
    const subnet = CIDR.parse(`10.42.${i + 1}.0/24`);
    be.configure({ subnet });
    nodes.push({
      ns: n.ns,
      nl,
      be,
      lease: {
        node: `n${i}`,
        subnet,
        ipv6Subnet: null,
        publicIP: IP.parse(n.ip),
        publicIPv6: null,
        backendType: "vxlan",
        backendData: be.backendData(),
        backendV6Data: null,
      },
    });
  }
  return nodes;
}

const others = (nodes: Node[], me: Node) =>
  nodes.filter((n) => n !== me).map((n) => n.lease);

type IpRoute = { dst: string; gateway?: string; dev: string; flags: string[] };
type IpNeigh = { dst: string; lladdr: string; state: string[] };
type Fdb = { mac: string; dst?: string; flags?: string[]; state?: string };

async function entries(ns: Netns) {
  return {
    routes: (await ns.json<IpRoute[]>(
      "ip",
      "-j",
      "route",
      "show",
      "dev",
      "flannel.1",
    ))
      .map((r) =>
        `${r.dst} via ${r.gateway} ${
          r.flags.includes("onlink") ? "onlink" : ""
        }`
      ),
    neighs: (await ns.json<IpNeigh[]>(
      "ip",
      "-j",
      "neigh",
      "show",
      "dev",
      "flannel.1",
    ))
      .map((n) => `${n.dst} ${n.lladdr} ${n.state.join(",")}`),
    fdb:
      (await ns.json<Fdb[]>("bridge", "-j", "fdb", "show", "dev", "flannel.1"))
        .map((f) => `${f.mac} ${f.dst}`),
  };
}

function expected(nodes: Node[], me: Node) {
  const ls = others(nodes, me);
  const mac = (l: Lease) => (l.backendData as { VtepMAC: string }).VtepMAC;
  return {
    routes: ls.map((l) => `${l.subnet} via ${l.subnet!.ip} onlink`).sort(),
    neighs: ls.map((l) => `${l.subnet!.ip} ${mac(l)} PERMANENT`).sort(),
    fdb: ls.map((l) => `${mac(l)} ${l.publicIP}`).sort(),
  };
}

const sorted = (e: Awaited<ReturnType<typeof entries>>) => ({
  routes: e.routes.sort(),
  neighs: e.neighs.sort(),
  fdb: e.fdb.sort(),
});

Deno.test("vxlan: three nodes get flannel.1 of the seeds' shape and carry TCP across the overlay", async () => {
  await using u = await Underlay.create(3);
  const nodes = setup(u, `{"Network":"10.42.0.0/16"}`);
  try {
    for (const n of nodes) {
      for (const l of others(nodes, n)) n.be.addLease(l);
    }
    for (const [i, n] of nodes.entries()) {
      const link = await flannelLink(n.ns);
      assertEquals(link.linkinfo.info_kind, "vxlan");
      assertEquals(link.linkinfo.info_data.id, 1);
      assertEquals(link.linkinfo.info_data.port, 8472);
      assertEquals(link.linkinfo.info_data.learning, false);
      assertEquals(link.linkinfo.info_data.local, `192.168.77.${i + 1}`);
      assertEquals(link.mtu, 1450);
      assertEquals(link.address, n.be.vtepMAC);
      assertEquals(n.be.mtu, 1450);
      assertEquals(
        await flannelAddrs4(n.ns),
        [`10.42.${i + 1}.0/32`],
      );
      assertEquals(sorted(await entries(n.ns)), expected(nodes, n));
    }
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        assert(
          await reaches(
            a.ns,
            b.lease.subnet!.ip.toString(),
            a.lease.subnet!.ip.toString(),
            b.ns,
          ),
          `${a.lease.node} -> ${b.lease.node}`,
        );
      }
    }
    // Removal takes the three entries away.
    nodes[0].be.removeLease(nodes[1].lease);
    const left = await entries(nodes[0].ns);
    assertEquals(left.routes.length, 1);
    assertEquals(left.neighs.length, 1);
    assertEquals(left.fdb.length, 1);
    assert(
      !(await reaches(nodes[0].ns, "10.42.2.0", "10.42.1.0", nodes[1].ns)),
    );
  } finally {
    for (const n of nodes) n.nl.close();
  }
});

Deno.test("vxlan: reconcile removes planted stale entries and fixes differing ones", async () => {
  await using u = await Underlay.create(2);
  const nodes = setup(u, `{"Network":"10.42.0.0/16"}`);
  try {
    const [a, b] = nodes;
    a.be.addLease(b.lease);
    b.be.addLease(a.lease);
    await plantStale(a.ns, "10.42.99.0", "02:00:00:00:00:99", "192.168.77.99");
    // b's neighbour points at a wrong MAC (a stale entry after a MAC change).
    await a.ns.sh(
      "ip",
      "neigh",
      "replace",
      "10.42.2.0",
      "lladdr",
      "02:00:00:00:00:42",
      "dev",
      "flannel.1",
      "nud",
      "permanent",
    );
    const r = a.be.reconcile([b.lease]);
    assertEquals(r.recreated, false);
    assertEquals(r.removed, 3);
    assertEquals(r.fixed, 1);
    assertEquals(sorted(await entries(a.ns)), expected(nodes, a));
    assert(await reaches(a.ns, "10.42.2.0", "10.42.1.0", b.ns));
    // A second pass has nothing to do.
    assertEquals(a.be.reconcile([b.lease]), {
      recreated: false,
      fixed: 0,
      removed: 0,
    });
    // An empty lease set clears the device.
    a.be.reconcile([]);
    assertEquals(await entries(a.ns), { routes: [], neighs: [], fdb: [] });
  } finally {
    for (const n of nodes) n.nl.close();
  }
});

Deno.test("vxlan: a deleted flannel.1 comes back with its MAC, address and every lease entry", async () => {
  await using u = await Underlay.create(3);
  const nodes = setup(u, `{"Network":"10.42.0.0/16"}`);
  try {
    const a = nodes[0];
    for (const l of others(nodes, a)) a.be.addLease(l);
    const mac = a.be.vtepMAC;
    await a.ns.sh("ip", "link", "del", "flannel.1");
    const r = a.be.reconcile(others(nodes, a));
    assertEquals(r.recreated, true);
    assertEquals(r.fixed, 6);
    const link = await flannelLink(a.ns);
    assertEquals(link.address, mac);
    assertEquals(sorted(await entries(a.ns)), expected(nodes, a));
    for (const n of nodes.slice(1)) n.be.addLease(a.lease);
    assert(await reaches(a.ns, "10.42.3.0", "10.42.1.0", nodes[2].ns));
  } finally {
    for (const n of nodes) n.nl.close();
  }
});

Deno.test("vxlan: an incompatible flannel.1 is recreated, a compatible one reused with the published MAC", async () => {
  await using u = await Underlay.create(1);
  const ns = u.nodes[0].ns;
  await ns.sh(
    "ip",
    "link",
    "add",
    "flannel.1",
    "type",
    "vxlan",
    "id",
    "9",
    "dstport",
    "4789",
    "dev",
    "eth0",
  );
  const logs: string[] = [];
  using nl = Netlink.open({ netns: ns.path });
  const conf = parseNetConf(`{"Network":"10.42.0.0/16"}`);
  const ext = selectInterface(nl, {});
  const mac = "02:aa:bb:cc:dd:01";
  const be = new VxlanBackend({
    nl,
    conf,
    ext,
    log: (m) => logs.push(m),
    previousData: { VNI: 1, VtepMAC: mac },
  });
  be.configure({ subnet: CIDR.parse("10.42.1.0/24") });
  assert(logs.some((l) => l.includes("incompatible VNI 9")), logs.join("\n"));
  const link = await flannelLink(ns);
  assertEquals(link.linkinfo.info_data.id, 1);
  assertEquals(link.address, mac);
  const index1 = nl.linkGet("flannel.1")!.index;
  // A restart reuses it (same index) and keeps the MAC.
  const again = new VxlanBackend({
    nl,
    conf,
    ext,
    log: (m) => logs.push(m),
    previousData: { VNI: 1, VtepMAC: mac },
  });
  again.configure({ subnet: CIDR.parse("10.42.1.0/24") });
  assertEquals(nl.linkGet("flannel.1")!.index, index1);
  // An address of an old subnet inside Network is replaced.
  again.configure({ subnet: CIDR.parse("10.42.7.0/24") });
  const addrs = nl.addrList({ dev: "flannel.1", family: 4 }).map((a) => a.cidr);
  assertEquals(addrs, ["10.42.7.0/32"]);
});

Deno.test("vxlan DirectRouting: on-link peers get a plain route via their public IP", async () => {
  await using u = await Underlay.create(2);
  const nodes = setup(
    u,
    `{"Network":"10.42.0.0/16","Backend":{"Type":"vxlan","DirectRouting":true}}`,
  );
  try {
    const [a, b] = nodes;
    a.be.addLease(b.lease);
    b.be.addLease(a.lease);
    const routes = await a.ns.json<IpRoute[]>(
      "ip",
      "-j",
      "route",
      "show",
      "10.42.2.0/24",
    );
    assertEquals(routes.map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`), [
      "10.42.2.0/24 via 192.168.77.2 dev eth0",
    ]);
    assertEquals(await entries(a.ns), { routes: [], neighs: [], fdb: [] });
    assert(await reaches(a.ns, "10.42.2.0", "10.42.1.0", b.ns));
    // Reconcile keeps it and removes a planted overlay route for the same peer.
    assertEquals(a.be.reconcile([b.lease]), {
      recreated: false,
      fixed: 0,
      removed: 0,
    });
    a.be.removeLease(b.lease);
    assertEquals(
      await a.ns.json("ip", "-j", "route", "show", "10.42.2.0/24"),
      [],
    );
  } finally {
    for (const n of nodes) n.nl.close();
  }
});

Deno.test("vxlan: a lease whose FDB entry the kernel refuses is rolled back (no neighbour left)", async () => {
  await using u = await Underlay.create(2);
  const nodes = setup(u, `{"Network":"10.42.0.0/16"}`);
  try {
    const [a, b] = nodes;
    // An IPv6 tunnel endpoint on an IPv4 VXLAN device: the FDB add fails.
    const bad: Lease = { ...b.lease, publicIP: IP.parse("fd00::2") };
    let threw = false;
    try {
      a.be.addLease(bad);
    } catch {
      threw = true;
    }
    assert(threw, "addLease reports the failure");
    assertEquals(await entries(a.ns), { routes: [], neighs: [], fdb: [] });
    // The good lease still programs fine afterwards.
    a.be.addLease(b.lease);
    assertEquals(sorted(await entries(a.ns)), expected([a, b], a));
  } finally {
    for (const n of nodes) n.nl.close();
  }
});
