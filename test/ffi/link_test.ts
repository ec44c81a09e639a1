import { assert, assertEquals, assertThrows } from "@std/assert";
import { Netlink, NetlinkError } from "../../ffi/mod.ts";
import { Netns } from "../harness/netns.ts";

// deno-lint-ignore no-explicit-any
type IpLink = Record<string, any>;

async function ipLink(ns: Netns, name: string): Promise<IpLink> {
  const [l] = await ns.json<IpLink[]>(
    "ip",
    "-j",
    "-d",
    "link",
    "show",
    "dev",
    name,
  );
  return l;
}

async function kernelHas(ns: Netns, kind: string): Promise<boolean> {
  const r = await ns.run(["ip", "link", "add", `probe-${kind}`, "type", kind]);
  if (r.code !== 0) return false;
  await ns.sh("ip", "link", "del", `probe-${kind}`);
  return true;
}

Deno.test("linkAdd creates a bridge with MTU, MAC and up, read back by ip", async () => {
  await using ns = await Netns.create("link");
  using nl = Netlink.open({ netns: ns.path });
  const link = nl.linkAdd({
    name: "br0",
    kind: "bridge",
    mtu: 1400,
    mac: "02:11:22:33:44:55",
    up: true,
  });
  assertEquals([link.name, link.kind, link.mtu, link.mac, link.up], [
    "br0",
    "bridge",
    1400,
    "02:11:22:33:44:55",
    true,
  ]);
  const l = await ipLink(ns, "br0");
  assertEquals(l.ifindex, link.index);
  assertEquals(l.linkinfo.info_kind, "bridge");
  assertEquals(l.mtu, 1400);
  assertEquals(l.address, "02:11:22:33:44:55");
  assert(l.flags.includes("UP"));
});

Deno.test("linkAdd of an existing name throws NetlinkError EEXIST", async () => {
  await using ns = await Netns.create("exist");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({ name: "br0", kind: "bridge" });
  const e = assertThrows(
    () => nl.linkAdd({ name: "br0", kind: "bridge" }),
    NetlinkError,
  );
  assertEquals([e.code, e.errno, e.op], ["EEXIST", 17, "link add br0"]);
});

Deno.test("linkDel removes a link and throws ENODEV for a missing one", async () => {
  await using ns = await Netns.create("del");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({ name: "ifb0", kind: "ifb" });
  nl.linkDel("ifb0");
  assertEquals((await ns.run(["ip", "link", "show", "ifb0"])).code !== 0, true);
  const e = assertThrows(() => nl.linkDel("ifb0"), NetlinkError);
  assertEquals(e.code, "ENODEV");
  assertEquals(
    assertThrows(() => nl.linkDel(9999), NetlinkError).code,
    "ENODEV",
  );
});

Deno.test("linkGet finds by name and index, null when missing; linkList lists all", async () => {
  await using ns = await Netns.create("get");
  using nl = Netlink.open({ netns: ns.path });
  const ifb = nl.linkAdd({ name: "ifb0", kind: "ifb" });
  assertEquals(nl.linkGet("ifb0")?.index, ifb.index);
  assertEquals(nl.linkGet(ifb.index)?.name, "ifb0");
  assertEquals(nl.linkGet("nope"), null);
  assertEquals(nl.linkGet(9999), null);
  const ip = await ns.json<IpLink[]>("ip", "-j", "link");
  assertEquals(
    nl.linkList().map((l) => [l.index, l.name]),
    ip.map((l) => [l.ifindex, l.ifname]),
  );
  assertEquals(nl.linkGet("lo")?.kind, null);
});

Deno.test("linkAdd vxlan sets id, port, local, dev and nolearning, read back both ways", async () => {
  await using ns = await Netns.create("vxlan");
  using nl = Netlink.open({ netns: ns.path });
  const up = nl.linkAdd({
    name: "eth0",
    kind: "veth",
    peer: { name: "eth0p" },
  });
  const v = nl.linkAdd({
    name: "flannel.1",
    kind: "vxlan",
    vxlan: {
      id: 1,
      port: 8472,
      local: "192.168.5.1",
      dev: "eth0",
      learning: false,
    },
  });
  assertEquals(v.vxlan, {
    id: 1,
    port: 8472,
    local: "192.168.5.1",
    dev: up.index,
    learning: false,
    gbp: false,
  });
  const d = (await ipLink(ns, "flannel.1")).linkinfo.info_data;
  assertEquals([d.id, d.port, d.local, d.link, d.learning], [
    1,
    8472,
    "192.168.5.1",
    "eth0",
    false,
  ]);
});

Deno.test("linkAdd vxlan with gbp and learning on", async () => {
  await using ns = await Netns.create("gbp");
  using nl = Netlink.open({ netns: ns.path });
  const v = nl.linkAdd({
    name: "vx0",
    kind: "vxlan",
    vxlan: { id: 42, port: 4789, learning: true, gbp: true },
  });
  assertEquals(
    [v.vxlan?.gbp, v.vxlan?.learning, v.vxlan?.local, v.vxlan?.dev],
    [true, true, null, null],
  );
  const d = (await ipLink(ns, "vx0")).linkinfo.info_data;
  assertEquals([d.id, d.port, d.learning, d.gbp], [42, 4789, true, true]);
});

Deno.test("linkAdd veth puts the peer directly into another namespace", async () => {
  await using host = await Netns.create("vhost");
  await using cont = await Netns.create("vcont");
  using nl = Netlink.open({ netns: host.path });
  const v = nl.linkAdd({
    name: "veth0",
    kind: "veth",
    mtu: 1450,
    peer: { name: "eth0", netns: cont.path, mac: "02:00:00:00:00:0a" },
  });
  assertEquals(v.kind, "veth");
  assertEquals(
    (await host.run(["ip", "link", "show", "eth0"])).code !== 0,
    true,
  );
  const peer = await ipLink(cont, "eth0");
  assertEquals([peer.linkinfo.info_kind, peer.address, peer.mtu], [
    "veth",
    "02:00:00:00:00:0a",
    1450,
  ]);
});

Deno.test("linkSet changes up, MTU, MAC, master, name and promiscuity", async () => {
  await using ns = await Netns.create("set");
  using nl = Netlink.open({ netns: ns.path });
  const br = nl.linkAdd({ name: "br0", kind: "bridge" });
  nl.linkAdd({ name: "va", kind: "veth", peer: { name: "vb" } });
  nl.linkSet("va", {
    up: true,
    mtu: 1300,
    mac: "02:aa:bb:cc:dd:ee",
    master: "br0",
    promisc: true,
  });
  let l = await ipLink(ns, "va");
  assertEquals([l.mtu, l.address, l.master, l.promiscuity > 0], [
    1300,
    "02:aa:bb:cc:dd:ee",
    "br0",
    true,
  ]);
  assert(l.flags.includes("UP"));
  assertEquals(nl.linkGet("va")?.master, br.index);
  nl.linkSet("va", { up: false, master: null, promisc: false, name: "vc" });
  l = await ipLink(ns, "vc");
  assertEquals([l.master, l.promiscuity, l.flags.includes("UP")], [
    undefined,
    0,
    false,
  ]);
  assertEquals(nl.linkGet("va"), null);
  assertEquals(
    assertThrows(() => nl.linkSet("va", { up: true }), NetlinkError).code,
    "ENODEV",
  );
});

Deno.test("linkSet netns moves a link into another namespace", async () => {
  await using a = await Netns.create("mva");
  await using b = await Netns.create("mvb");
  using nl = Netlink.open({ netns: a.path });
  nl.linkAdd({ name: "ifb7", kind: "ifb" });
  nl.linkSet("ifb7", { netns: b.path });
  assertEquals(nl.linkGet("ifb7"), null);
  assertEquals((await ipLink(b, "ifb7")).ifname, "ifb7");
});

Deno.test("linkSetHairpin toggles the bridge port hairpin flag", async () => {
  await using ns = await Netns.create("hairpin");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({ name: "br0", kind: "bridge" });
  nl.linkAdd({ name: "va", kind: "veth", peer: { name: "vb" } });
  nl.linkSet("va", { master: "br0" });
  const hairpin = async () =>
    (await ns.json<IpLink[]>(
      "bridge",
      "-j",
      "-d",
      "link",
      "show",
      "dev",
      "va",
    ))[0].hairpin;
  nl.linkSetHairpin("va", true);
  assertEquals(await hairpin(), true);
  nl.linkSetHairpin("va", false);
  assertEquals(await hairpin(), false);
});

Deno.test("linkAdd dummy creates a dummy device when the kernel supports it", async (t) => {
  await using ns = await Netns.create("dummy");
  if (!(await kernelHas(ns, "dummy"))) {
    console.log(
      "skipped: this kernel has no dummy driver (ip link add type dummy fails too)",
    );
    using nl = Netlink.open({ netns: ns.path });
    const e = assertThrows(
      () => nl.linkAdd({ name: "d0", kind: "dummy" }),
      NetlinkError,
    );
    assertEquals(e.code, "EOPNOTSUPP");
    return;
  }
  await t.step("created", async () => {
    using nl = Netlink.open({ netns: ns.path });
    assertEquals(nl.linkAdd({ name: "d0", kind: "dummy" }).kind, "dummy");
    assertEquals((await ipLink(ns, "d0")).linkinfo.info_kind, "dummy");
  });
});

Deno.test("linkAdd wireguard creates the link, or reports EOPNOTSUPP like ip does without the module", async () => {
  await using ns = await Netns.create("wg");
  using nl = Netlink.open({ netns: ns.path });
  const ipCan =
    (await ns.run(["ip", "link", "add", "wgp", "type", "wireguard"])).code ===
      0;
  if (ipCan) {
    await ns.sh("ip", "link", "del", "wgp");
    assertEquals(
      nl.linkAdd({ name: "wg0", kind: "wireguard" }).kind,
      "wireguard",
    );
    assertEquals((await ipLink(ns, "wg0")).linkinfo.info_kind, "wireguard");
  } else {
    console.log("no wireguard kernel module: checking the typed error instead");
    assertEquals(
      assertThrows(
        () => nl.linkAdd({ name: "wg0", kind: "wireguard" }),
        NetlinkError,
      ).code,
      "EOPNOTSUPP",
    );
  }
});

Deno.test("Netlink.close is idempotent and a closed handle throws EBADF", () => {
  const nl = Netlink.open();
  nl.close();
  nl.close();
  assertEquals(assertThrows(() => nl.linkList(), NetlinkError).code, "EBADF");
});

Deno.test("link names the kernel would refuse are a TypeError quoting the name", async () => {
  await using ns = await Netns.create("names");
  using nl = Netlink.open({ netns: ns.path });
  assertThrows(
    () => nl.linkAdd({ name: "a-very-long-name-0", kind: "bridge" }),
    TypeError,
    '"a-very-long-name-0"',
  );
  assertThrows(
    () => nl.linkAdd({ name: "bad/name", kind: "bridge" }),
    TypeError,
    "invalid link name",
  );
  assertThrows(
    () => nl.linkAdd({ name: "va", kind: "veth", peer: { name: "" } }),
    TypeError,
    'invalid link name ""',
  );
  assertThrows(() => nl.linkGet("has space"), TypeError, "invalid link name");
});

Deno.test("a veth reports its peer's index as linkIndex", async () => {
  await using ns = await Netns.create("peeridx");
  using nl = Netlink.open({ netns: ns.path });
  const va = nl.linkAdd({ name: "va", kind: "veth", peer: { name: "vb" } });
  const vb = nl.linkGet("vb")!;
  assertEquals([va.linkIndex, vb.linkIndex], [vb.index, va.index]);
  assertEquals((await ipLink(ns, "va")).link, "vb");
  assertEquals(nl.linkGet("lo")?.linkIndex, undefined);
});
