import { assertEquals, assertThrows } from "@std/assert";
import { Netlink, NetlinkError } from "../../ffi/mod.ts";
import { Netns } from "../harness/netns.ts";

// deno-lint-ignore no-explicit-any
type J = Record<string, any>;

async function setup(tag: string) {
  const ns = await Netns.create(tag);
  const nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({ name: "eth0", kind: "veth", up: true, peer: { name: "eth0p" } });
  nl.linkSet("eth0p", { up: true });
  nl.addrAdd("eth0", "192.168.1.10/24");
  return { ns, nl };
}

Deno.test("routeAdd via gateway, onlink and blackhole, read back by ip -j route", async () => {
  const { ns, nl } = await setup("route");
  await using _ns = ns;
  using _nl = nl;
  nl.routeAdd({
    dst: "10.42.0.0/16",
    gw: "192.168.1.1",
    dev: "eth0",
    metric: 50,
  });
  nl.routeAdd({
    dst: "10.42.2.0/24",
    gw: "10.99.0.1",
    dev: "eth0",
    onlink: true,
  });
  nl.routeAdd({ dst: "10.66.0.0/16", type: "blackhole" });
  nl.routeAdd({ dst: "default", gw: "192.168.1.1", mtu: 1400, advmss: 1360 });
  const ip = await ns.json<J[]>("ip", "-j", "-d", "route", "show");
  const by = (d: string) => ip.find((r) => r.dst === d)!;
  assertEquals([by("10.42.0.0/16").gateway, by("10.42.0.0/16").metric], [
    "192.168.1.1",
    50,
  ]);
  assertEquals(by("10.42.2.0/24").flags, ["onlink"]);
  assertEquals(by("10.66.0.0/16").type, "blackhole");
  assertEquals([by("default").gateway, by("default").metrics], ["192.168.1.1", [
    { mtu: 1400, advmss: 1360 },
  ]]);

  const list = nl.routeList({ family: 4 });
  const r = (d: string) => list.find((r) => r.dst === d)!;
  assertEquals([
    r("10.42.0.0/16").gw,
    r("10.42.0.0/16").dev,
    r("10.42.0.0/16").metric,
  ], ["192.168.1.1", "eth0", 50]);
  assertEquals([r("10.42.2.0/24").onlink, r("10.42.2.0/24").scope], [
    true,
    "universe",
  ]);
  assertEquals(r("10.66.0.0/16").type, "blackhole");
  assertEquals([
    r("0.0.0.0/0").mtu,
    r("0.0.0.0/0").advmss,
    r("0.0.0.0/0").table,
  ], [1400, 1360, 254]);
  assertEquals(r("192.168.1.0/24").scope, "link");
  const onEth0 = nl.routeList({ family: 4, dev: "eth0" });
  assertEquals(
    onEth0.length > 0 && onEth0.every((r) => r.dev === "eth0"),
    true,
  );
  assertEquals(onEth0.some((r) => r.dst === "10.66.0.0/16"), false); // blackhole: no dev
});

Deno.test("routeAdd of an existing route throws EEXIST; routeReplace changes it; routeDel removes it", async () => {
  const { ns, nl } = await setup("replace");
  await using _ns = ns;
  using _nl = nl;
  nl.routeAdd({ dst: "10.42.3.0/24", gw: "192.168.1.1" });
  assertEquals(
    assertThrows(
      () => nl.routeAdd({ dst: "10.42.3.0/24", gw: "192.168.1.1" }),
      NetlinkError,
    )
      .code,
    "EEXIST",
  );
  nl.routeReplace({ dst: "10.42.3.0/24", gw: "192.168.1.2" });
  const ip = await ns.json<J[]>("ip", "-j", "route", "show", "10.42.3.0/24");
  assertEquals(ip.map((r) => r.gateway), ["192.168.1.2"]);
  nl.routeDel({ dst: "10.42.3.0/24" });
  assertEquals(
    await ns.json<J[]>("ip", "-j", "route", "show", "10.42.3.0/24"),
    [],
  );
  assertEquals(
    assertThrows(() => nl.routeDel({ dst: "10.42.3.0/24" }), NetlinkError).code,
    "ESRCH",
  );
});

Deno.test("routeAdd with scope link and a non-main table", async () => {
  const { ns, nl } = await setup("table");
  await using _ns = ns;
  using _nl = nl;
  nl.routeAdd({ dst: "10.50.0.0/16", dev: "eth0", scope: "link", table: 100 });
  nl.routeAdd({
    dst: "10.51.0.0/16",
    dev: "eth0",
    table: 1000,
    src: "192.168.1.10",
  });
  const ip100 = await ns.json<J[]>("ip", "-j", "route", "show", "table", "100");
  assertEquals(ip100.map((r) => [r.dst, r.dev, r.scope]), [[
    "10.50.0.0/16",
    "eth0",
    "link",
  ]]);
  const ip1000 = await ns.json<J[]>(
    "ip",
    "-j",
    "route",
    "show",
    "table",
    "1000",
  );
  assertEquals(ip1000.map((r) => [r.dst, r.prefsrc]), [[
    "10.51.0.0/16",
    "192.168.1.10",
  ]]);
  assertEquals(
    nl.routeList({ table: 100 }).map((r) => [r.dst, r.dev, r.scope, r.table]),
    [
      ["10.50.0.0/16", "eth0", "link", 100],
    ],
  );
  assertEquals(nl.routeList({ table: 1000 })[0].src, "192.168.1.10");
  assertEquals(nl.routeList().some((r) => r.dst === "10.50.0.0/16"), false);
  nl.routeDel({ dst: "10.50.0.0/16", table: 100 });
  assertEquals(
    await ns.json<J[]>("ip", "-j", "route", "show", "table", "100"),
    [],
  );
});

Deno.test("routeGet asks the kernel which route an address takes", async () => {
  const { ns, nl } = await setup("get");
  await using _ns = ns;
  using _nl = nl;
  nl.routeAdd({ dst: "10.42.0.0/16", gw: "192.168.1.1" });
  const r = nl.routeGet("10.42.5.5");
  assertEquals([r.dst, r.gw, r.dev, r.src], [
    "10.42.5.5/32",
    "192.168.1.1",
    "eth0",
    "192.168.1.10",
  ]);
  const ip = await ns.json<J[]>("ip", "-j", "route", "get", "10.42.5.5");
  assertEquals([ip[0].gateway, ip[0].dev], [r.gw, r.dev]);
  assertEquals(
    assertThrows(() => nl.routeGet("172.31.0.1"), NetlinkError).code,
    "ENETUNREACH",
  );
});

Deno.test("IPv6 routes: default needs family 6, onlink via an IPv6 gateway", async () => {
  const { ns, nl } = await setup("v6");
  await using _ns = ns;
  using _nl = nl;
  nl.addrAdd("eth0", "fd00:1::10/64");
  nl.routeAdd({
    dst: "fd00:42::/64",
    gw: "fd00:1::1",
    dev: "eth0",
    onlink: true,
  });
  nl.routeAdd({ dst: "default", family: 6, type: "blackhole" });
  const ip = await ns.json<J[]>("ip", "-6", "-j", "route", "show");
  const r = ip.find((r) => r.dst === "fd00:42::/64");
  assertEquals([r?.gateway, r?.flags], ["fd00:1::1", ["onlink"]]);
  assertEquals(ip.find((r) => r.dst === "default")?.type, "blackhole");
  const list = nl.routeList({ family: 6 });
  assertEquals(list.find((r) => r.dst === "fd00:42::/64")?.gw, "fd00:1::1");
  assertEquals(list.find((r) => r.dst === "::/0")?.type, "blackhole");
  assertThrows(
    () => nl.routeAdd({ dst: "fd00:43::/64", gw: "192.168.1.1" }),
    TypeError,
    "not IPv6",
  );
});

Deno.test("kernel errors carry the kernel's extended-ack reason", async () => {
  const { ns, nl } = await setup("extack");
  await using _ns = ns;
  using _nl = nl;
  const e = assertThrows(
    () => nl.routeAdd({ dst: "10.9.0.0/16", gw: "10.1.1.1", dev: "eth0" }),
    NetlinkError,
  );
  assertEquals(e.code, "ENETUNREACH");
  assertEquals(
    e.message.startsWith(
      "route add 10.9.0.0/16 via 10.1.1.1 dev eth0: ENETUNREACH: ",
    ),
    true,
  );
  assertEquals(/gateway/i.test(e.message), true);
});
