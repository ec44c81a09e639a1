import { assert, assertEquals } from "@std/assert";
import { Netlink } from "../../../ffi/mod.ts";
import { CIDR, IP } from "../../../src/net/mod.ts";
import {
  type Lease,
  parseNetConf,
  selectInterface,
} from "../../../src/flannel/mod.ts";
import { HostGwBackend } from "../../../src/flannel/backend/host_gw.ts";
import { NoneBackend } from "../../../src/flannel/backend/none.ts";
import { reaches, Underlay } from "../_underlay.ts";

type IpRoute = { dst: string; gateway?: string; dev: string };

const lease = (i: number, ip: string): Lease => ({
  node: `n${i}`,
  subnet: CIDR.parse(`10.42.${i + 1}.0/24`),
  ipv6Subnet: null,
  publicIP: IP.parse(ip),
  publicIPv6: null,
  backendType: "host-gw",
  backendData: null,
  backendV6Data: null,
});

Deno.test("host-gw: routes via node IPs carry traffic; weft's differing replaced, missing re-added, stale removed; others' kept", async () => {
  await using u = await Underlay.create(2);
  const conf = parseNetConf(
    `{"Network":"10.42.0.0/16","Backend":{"Type":"host-gw"}}`,
  );
  const nls = u.nodes.map((n) => Netlink.open({ netns: n.ns.path }));
  try {
    const logs: string[] = [];
    const bes = nls.map((nl, i) => {
      const be = new HostGwBackend({
        nl,
        conf,
        ext: selectInterface(nl, {}),
        log: (m) => logs.push(m),
      });
      be.configure({ subnet: CIDR.parse(`10.42.${i + 1}.0/24`) });
      return be;
    });
    assertEquals(bes[0].mtu, 1500);
    assertEquals(bes[0].backendData(), null);
    const leases = u.nodes.map((n, i) => lease(i, n.ip));
    // Each node's subnet IP lives on an empty bridge (a stand-in for cni0).
    for (const [i, n] of u.nodes.entries()) {
      await n.ns.sh("ip", "link", "add", "cni0", "type", "bridge");
      await n.ns.sh("ip", "addr", "add", `10.42.${i + 1}.1/24`, "dev", "cni0");
      await n.ns.sh("ip", "link", "set", "cni0", "up");
    }
    bes[0].addLease(leases[1]);
    bes[1].addLease(leases[0]);
    const [a, b] = u.nodes;
    const show = async () =>
      (await a.ns.json<IpRoute[]>(
        "ip",
        "-j",
        "route",
        "show",
        "root",
        "10.42.0.0/16",
      ))
        .filter((r) => r.gateway)
        .map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`);
    assertEquals(await show(), ["10.42.2.0/24 via 192.168.77.2 dev eth0"]);
    assert(await reaches(a.ns, "10.42.2.1", "10.42.1.1", b.ns));
    const routeCmd = (verb: string, dst: string, gw: string, proto: string) =>
      a.ns.sh(
        "ip",
        "route",
        verb,
        dst,
        "via",
        gw,
        "dev",
        "eth0",
        "proto",
        proto,
      );
    // weft's routes carry proto 87: a differing one of weft's (wrong
    // gateway) and a stale one of weft's; an operator's route into the
    // network is not weft's and stays.
    assert(
      (await a.ns.sh("ip", "route", "show", "proto", "87")).includes(
        "10.42.2.0/24",
      ),
    );
    await routeCmd("replace", "10.42.2.0/24", "192.168.77.254", "87");
    await routeCmd("add", "10.42.9.0/24", "192.168.77.9", "87");
    await routeCmd("add", "10.42.8.0/24", "192.168.77.8", "static");
    let r = bes[0].reconcile([leases[1]]);
    assertEquals(r, { recreated: false, fixed: 1, removed: 1 });
    assertEquals(await show(), [
      "10.42.2.0/24 via 192.168.77.2 dev eth0",
      "10.42.8.0/24 via 192.168.77.8 dev eth0",
    ]);
    await a.ns.sh("ip", "route", "del", "10.42.8.0/24");
    // An operator's route for a lease's subnet is not replaced (logged).
    await routeCmd("replace", "10.42.2.0/24", "192.168.77.254", "static");
    r = bes[0].reconcile([leases[1]]);
    assertEquals(r, { recreated: false, fixed: 0, removed: 0 });
    assertEquals(await show(), ["10.42.2.0/24 via 192.168.77.254 dev eth0"]);
    assert(
      logs.some((l) =>
        l.includes("refusing lease of n1") && l.includes("not weft's")
      ),
      logs.join("\n"),
    );
    await a.ns.sh("ip", "route", "del", "10.42.2.0/24");
    r = bes[0].reconcile([leases[1]]);
    assertEquals(r, { recreated: false, fixed: 1, removed: 0 });
    assertEquals(await show(), ["10.42.2.0/24 via 192.168.77.2 dev eth0"]);
    // A vxlan peer is not routed by host-gw.
    bes[0].addLease({ ...lease(5, "192.168.77.6"), backendType: "vxlan" });
    assertEquals(await show(), ["10.42.2.0/24 via 192.168.77.2 dev eth0"]);
    bes[0].removeLease(leases[1]);
    assertEquals(await show(), []);
    assert(!(await reaches(a.ns, "10.42.2.1", "10.42.1.1", b.ns)));
  } finally {
    for (const nl of nls) nl.close();
  }
});

Deno.test("none: programs nothing and publishes null backend-data", async () => {
  await using u = await Underlay.create(1);
  using nl = Netlink.open({ netns: u.nodes[0].ns.path });
  const conf = parseNetConf(
    `{"Network":"10.42.0.0/16","Backend":{"Type":"none","MTU":1400}}`,
  );
  const be = new NoneBackend({
    nl,
    conf,
    ext: selectInterface(nl, {}),
    log: () => {},
  });
  const before = await u.nodes[0].ns.sh("ip", "route");
  be.configure();
  be.addLease();
  assertEquals(be.reconcile(), { recreated: false, fixed: 0, removed: 0 });
  assertEquals(await u.nodes[0].ns.sh("ip", "route"), before);
  assertEquals(be.mtu, 1400);
  assertEquals(be.backendData(), null);
});
