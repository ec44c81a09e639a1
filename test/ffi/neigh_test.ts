import { assertEquals, assertThrows } from "@std/assert";
import { Netlink, NetlinkError } from "../../ffi/mod.ts";
import { Netns } from "../harness/netns.ts";

// deno-lint-ignore no-explicit-any
type J = Record<string, any>;

Deno.test("neighSet makes permanent ARP and NDP entries, replacing the MAC", async () => {
  await using ns = await Netns.create("neigh");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({
    name: "flannel.1",
    kind: "vxlan",
    vxlan: { id: 1, port: 8472, learning: false },
    up: true,
  });
  nl.neighSet("flannel.1", "10.42.2.0", "aa:bb:cc:00:00:01");
  nl.neighSet("flannel.1", "10.42.2.0", "aa:bb:cc:00:00:02");
  nl.neighSet("flannel.1", "fd00:42:2::", "aa:bb:cc:00:00:03");
  const ip = await ns.json<J[]>(
    "ip",
    "-j",
    "neigh",
    "show",
    "dev",
    "flannel.1",
  );
  const v4 = ip.find((n) => n.dst === "10.42.2.0");
  assertEquals([v4?.lladdr, v4?.state], ["aa:bb:cc:00:00:02", ["PERMANENT"]]);
  assertEquals(
    ip.find((n) => n.dst === "fd00:42:2::")?.lladdr,
    "aa:bb:cc:00:00:03",
  );
  const list = nl.neighList({ dev: "flannel.1" }).filter((n) =>
    n.state.includes("PERMANENT")
  );
  assertEquals(list.map((n) => [n.dev, n.ip, n.mac, n.state]).sort(), [
    ["flannel.1", "10.42.2.0", "aa:bb:cc:00:00:02", ["PERMANENT"]],
    ["flannel.1", "fd00:42:2::", "aa:bb:cc:00:00:03", ["PERMANENT"]],
  ]);
  assertEquals(
    nl.neighList({ family: 4 }).every((n) => !n.ip.includes(":")),
    true,
  );
});

Deno.test("neighDel removes an entry and throws ENOENT when it is gone", async () => {
  await using ns = await Netns.create("neighdel");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({ name: "ifb0", kind: "ifb", up: true });
  nl.linkAdd({ name: "br0", kind: "bridge", up: true });
  nl.neighSet("br0", "10.1.1.1", "02:00:00:00:00:01");
  nl.neighDel("br0", "10.1.1.1");
  assertEquals(
    await ns.json<J[]>(
      "ip",
      "-j",
      "neigh",
      "show",
      "dev",
      "br0",
      "to",
      "10.1.1.1",
    ),
    [],
  );
  assertEquals(
    assertThrows(() => nl.neighDel("br0", "10.1.1.1"), NetlinkError).code,
    "ENOENT",
  );
});

Deno.test("fdbSet/fdbAppend/fdbDel program VXLAN FDB entries with dst, self, permanent", async () => {
  await using ns = await Netns.create("fdb");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({
    name: "flannel.1",
    kind: "vxlan",
    vxlan: { id: 1, port: 8472, learning: false },
  });
  nl.fdbSet("flannel.1", "aa:bb:cc:00:00:01", "192.168.1.2");
  nl.fdbSet("flannel.1", "aa:bb:cc:00:00:01", "192.168.1.3"); // replace
  nl.fdbAppend("flannel.1", "00:00:00:00:00:00", "192.168.1.4");
  nl.fdbAppend("flannel.1", "00:00:00:00:00:00", "192.168.1.5");
  const show = () =>
    ns.json<J[]>("bridge", "-j", "fdb", "show", "dev", "flannel.1");
  const ip = await show();
  const one = ip.filter((f) => f.mac === "aa:bb:cc:00:00:01");
  assertEquals(one.map((f) => [f.dst, f.flags, f.state]), [["192.168.1.3", [
    "self",
  ], "permanent"]]);
  assertEquals(
    ip.filter((f) => f.mac === "00:00:00:00:00:00").map((f) => f.dst).sort(),
    ["192.168.1.4", "192.168.1.5"],
  );

  const list = nl.fdbList("flannel.1").filter((f) => f.dst !== null);
  assertEquals(
    list.map((f) => [f.dev, f.mac, f.dst, f.self, f.permanent]).sort(),
    [
      ["flannel.1", "00:00:00:00:00:00", "192.168.1.4", true, true],
      ["flannel.1", "00:00:00:00:00:00", "192.168.1.5", true, true],
      ["flannel.1", "aa:bb:cc:00:00:01", "192.168.1.3", true, true],
    ],
  );

  nl.fdbDel("flannel.1", "00:00:00:00:00:00", "192.168.1.4");
  nl.fdbDel("flannel.1", "aa:bb:cc:00:00:01");
  const left = (await show()).filter((f) => f.dst).map((f) => [f.mac, f.dst]);
  assertEquals(left, [["00:00:00:00:00:00", "192.168.1.5"]]);
  assertEquals(
    assertThrows(
      () => nl.fdbDel("flannel.1", "aa:bb:cc:00:00:01"),
      NetlinkError,
    ).code,
    "ENOENT",
  );
});
