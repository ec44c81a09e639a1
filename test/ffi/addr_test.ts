import { assertEquals, assertThrows } from "@std/assert";
import { Netlink, NetlinkError } from "../../ffi/mod.ts";
import { Netns } from "../harness/netns.ts";

// deno-lint-ignore no-explicit-any
type J = Record<string, any>;

async function ipAddrs(ns: Netns, dev: string): Promise<J[]> {
  const [l] = await ns.json<J[]>("ip", "-j", "addr", "show", "dev", dev);
  return l.addr_info;
}

Deno.test("addrAdd adds IPv4 and IPv6 addresses with scope and broadcast", async () => {
  await using ns = await Netns.create("addr");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({ name: "br0", kind: "bridge", up: true });
  nl.addrAdd("br0", "10.42.1.1/24", { broadcast: true });
  nl.addrAdd("br0", "10.42.9.0/32", { scope: "link" });
  nl.addrAdd("br0", "fd00:42::1/64");
  const ip = await ipAddrs(ns, "br0");
  const v4 = ip.filter((a) => a.family === "inet").map((
    a,
  ) => [a.local, a.prefixlen, a.scope, a.broadcast]).sort();
  assertEquals(v4, [["10.42.1.1", 24, "global", "10.42.1.255"], [
    "10.42.9.0",
    32,
    "link",
    undefined,
  ]]);
  const v6 = ip.find((a) => a.family === "inet6" && a.local === "fd00:42::1");
  assertEquals([v6?.prefixlen, v6?.scope], [64, "global"]);

  const mine = nl.addrList({ dev: "br0" }).filter((a) =>
    a.scope !== "link" || a.family === 4
  );
  assertEquals(mine.map((a) => [a.dev, a.family, a.cidr, a.scope]).sort(), [
    ["br0", 4, "10.42.1.1/24", "universe"],
    ["br0", 4, "10.42.9.0/32", "link"],
    ["br0", 6, "fd00:42::1/64", "universe"],
  ]);
  assertEquals(
    nl.addrList({ family: 6, dev: "br0" }).every((a) => a.family === 6),
    true,
  );
});

Deno.test("addrAdd of a present address throws EEXIST; addrDel removes, then EADDRNOTAVAIL", async () => {
  await using ns = await Netns.create("addrdel");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({ name: "ifb0", kind: "ifb" });
  nl.addrAdd("ifb0", "192.168.7.2/24");
  assertEquals(
    assertThrows(() => nl.addrAdd("ifb0", "192.168.7.2/24"), NetlinkError).code,
    "EEXIST",
  );
  nl.addrDel("ifb0", "192.168.7.2/24");
  assertEquals(
    (await ipAddrs(ns, "ifb0")).filter((a) => a.family === "inet"),
    [],
  );
  assertEquals(
    assertThrows(() => nl.addrDel("ifb0", "192.168.7.2/24"), NetlinkError).code,
    "EADDRNOTAVAIL",
  );
});

Deno.test("addrAdd rejects a malformed CIDR with a TypeError quoting it", async () => {
  await using ns = await Netns.create("badcidr");
  using nl = Netlink.open({ netns: ns.path });
  assertThrows(() => nl.addrAdd(1, "10.0.0.300/24"), TypeError, '"10.0.0.300"');
  assertThrows(() => nl.addrAdd(1, "10.0.0.1/33"), TypeError, '"10.0.0.1/33"');
  assertEquals(nl.addrList({ dev: 1, family: 4 }).map((a) => a.cidr), [
    "127.0.0.1/8",
  ]);
});

Deno.test("IPv6 addrAdd with nodad skips DAD; addrDel removes an IPv6 address", async () => {
  await using ns = await Netns.create("nodad");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({ name: "va", kind: "veth", up: true, peer: { name: "vb" } });
  nl.linkSet("vb", { up: true });
  nl.addrAdd("va", "fd00:9::1/64", { nodad: true });
  nl.addrAdd("va", "fd00:9::2/64");
  const info = await ipAddrs(ns, "va");
  const one = info.find((a) => a.local === "fd00:9::1");
  const two = info.find((a) => a.local === "fd00:9::2");
  assertEquals(one?.nodad, true);
  assertEquals(two?.nodad, undefined);
  nl.addrDel("va", "fd00:9::2/64");
  const left = (await ipAddrs(ns, "va")).map((a) => a.local);
  assertEquals([left.includes("fd00:9::1"), left.includes("fd00:9::2")], [
    true,
    false,
  ]);
});
