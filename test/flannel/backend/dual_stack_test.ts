import { assert, assertEquals } from "@std/assert";
import { Netlink, sysctlSet } from "../../../ffi/mod.ts";
import { parseNetConf, selectInterface } from "../../../src/flannel/mod.ts";
import { createBackend } from "../../../src/flannel/backend/mod.ts";
import { exchange, Underlay } from "../_underlay.ts";
import { configureDual } from "./_dual_lease.ts";

type IpLink = {
  mtu: number;
  address: string;
  linkinfo: { info_kind: string; info_data: Record<string, unknown> };
};

Deno.test("vxlan dual-stack: flannel.1 and flannel-v6.1 with their own MACs, entries per family, IPv6 traffic across", async () => {
  await using u = await Underlay.create(2, { v6: true });
  const conf = parseNetConf(
    `{"Network":"10.42.0.0/16","EnableIPv6":true,"IPv6Network":"fd42::/56"}`,
  );
  const nls = u.nodes.map((n) => Netlink.open({ netns: n.ns.path }));
  try {
    const parts = await Promise.all(u.nodes.map(async (n, i) => {
      const nl = nls[i];
      const ext = selectInterface(nl, {}, { v4: true, v6: true });
      const be = await createBackend({
        nl,
        conf,
        ext,
        log: () => {},
        sysctl: (k, v) => sysctlSet(k, v, { netns: n.ns.path }),
      });
      const lease = await configureDual(be, i, n.ip, "vxlan");
      return { be, lease, ns: n.ns };
    }));
    const [a, b] = parts;
    assertEquals(a.be.devices, ["flannel.1", "flannel-v6.1"]);
    await a.be.addLease(b.lease);
    await b.be.addLease(a.lease);

    const [v6] = await a.ns.json<IpLink[]>(
      "ip",
      "-j",
      "-d",
      "link",
      "show",
      "flannel-v6.1",
    );
    assertEquals(v6.linkinfo.info_kind, "vxlan");
    assertEquals(v6.linkinfo.info_data.id, 1);
    assertEquals(v6.linkinfo.info_data.local6, "fd00:77::1");
    // VXLAN over IPv6 costs 70 bytes; FLANNEL_MTU is the smaller of the two.
    assertEquals(v6.mtu, 1430);
    assertEquals(a.be.mtu, 1430);
    assertEquals(
      v6.address,
      (a.lease.backendV6Data as { VtepMAC: string }).VtepMAC,
    );
    const [v4] = await a.ns.json<IpLink[]>(
      "ip",
      "-j",
      "link",
      "show",
      "flannel.1",
    );
    assert(v4.address !== v6.address, "each device has its own VTEP MAC");
    assertEquals(
      (await a.ns.sh("sysctl", "-n", "net/ipv6/conf/flannel-v6.1/accept_ra"))
        .trim(),
      "0",
    );
    const addrs = await a.ns.json<
      { addr_info: { local: string; prefixlen: number; scope: string }[] }[]
    >(
      "ip",
      "-j",
      "-6",
      "addr",
      "show",
      "dev",
      "flannel-v6.1",
      "scope",
      "global",
    );
    assertEquals(
      addrs[0].addr_info.filter((x) => x.local).map((x) =>
        `${x.local}/${x.prefixlen}`
      ),
      [
        "fd42:0:0:1::/128",
      ],
    );
    const routes = await a.ns.json<
      { dst: string; gateway: string; flags: string[] }[]
    >(
      "ip",
      "-j",
      "-6",
      "route",
      "show",
      "dev",
      "flannel-v6.1",
      "root",
      "fd42::/56",
    );
    assertEquals(
      routes.filter((r) => r.gateway).map((r) =>
        `${r.dst} via ${r.gateway} ${r.flags.join(",")}`
      ),
      ["fd42:0:0:2::/64 via fd42:0:0:2:: onlink"],
    );
    const fdb = await a.ns.json<{ mac: string; dst: string }[]>(
      "bridge",
      "-j",
      "fdb",
      "show",
      "dev",
      "flannel-v6.1",
    );
    assertEquals(fdb.map((f) => `${f.mac} ${f.dst}`), [
      `${(b.lease.backendV6Data as { VtepMAC: string }).VtepMAC} fd00:77::2`,
    ]);
    assertEquals(
      await exchange(a.ns, "fd42:0:0:2::", "fd42:0:0:1::", b.ns),
      "fd42:0:0:1::",
    );
    assertEquals(
      await exchange(a.ns, "10.42.2.0", "10.42.1.0", b.ns),
      "10.42.1.0",
    );
    // Reconcile is per family and has nothing to do.
    assertEquals(await a.be.reconcile([b.lease]), {
      recreated: false,
      fixed: 0,
      removed: 0,
    });
    // Removal takes both families' entries away.
    await a.be.removeLease(b.lease);
    const left = await a.ns.json<{ gateway?: string }[]>(
      "ip",
      "-j",
      "-6",
      "route",
      "show",
      "dev",
      "flannel-v6.1",
      "root",
      "fd42::/56",
    );
    assertEquals(left.filter((r) => r.gateway), []);
    assertEquals(
      await a.ns.json("ip", "-j", "route", "show", "dev", "flannel.1"),
      [],
    );
  } finally {
    for (const nl of nls) nl.close();
  }
});
