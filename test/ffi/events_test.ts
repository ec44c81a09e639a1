import { assert, assertEquals } from "@std/assert";
import { linkEvents, netEvents, Netlink, nftEvents } from "../../ffi/mod.ts";
import { Netns } from "../harness/netns.ts";

Deno.test("linkEvents reports a link created and deleted in the namespace", async () => {
  await using ns = await Netns.create("events");
  const events = linkEvents({ netns: ns.path });
  try {
    await ns.sh("ip", "link", "add", "ev0", "type", "bridge");
    await ns.sh("ip", "link", "del", "ev0");
    const seen: string[] = [];
    for await (const ev of events) {
      if (ev.link.name !== "ev0") continue;
      seen.push(`${ev.type} ${ev.link.kind}`);
      if (ev.type === "del") break;
    }
    assertEquals(seen[0], "new bridge");
    assertEquals(seen.at(-1), "del bridge");
  } finally {
    events.close();
  }
});

Deno.test("linkEvents sees only its own namespace and ends after close()", async () => {
  await using a = await Netns.create("eva");
  await using b = await Netns.create("evb");
  const events = linkEvents({ netns: a.path });
  try {
    using nlb = Netlink.open({ netns: b.path });
    using nla = Netlink.open({ netns: a.path });
    nlb.linkAdd({ name: "other", kind: "ifb" });
    nla.linkAdd({ name: "mine", kind: "ifb" });
    const first = await events.next();
    assertEquals([first.value?.type, first.value?.link.name], ["new", "mine"]);
    events.close();
    assertEquals((await events.next()).done, true);
  } finally {
    events.close();
  }
});

Deno.test("linkEvents.close() ends every pending next()", async () => {
  await using ns = await Netns.create("evclose");
  const events = linkEvents({ netns: ns.path });
  const pending = [events.next(), events.next()];
  events.close();
  assertEquals((await Promise.all(pending)).map((r) => r.done), [true, true]);
});

Deno.test("netEvents reports neighbour, FDB and route changes with the device index", async () => {
  await using ns = await Netns.create("evnet");
  using nl = Netlink.open({ netns: ns.path });
  await ns.sh(
    "ip",
    "link",
    "add",
    "eth0",
    "type",
    "veth",
    "peer",
    "name",
    "eth1",
  );
  await ns.sh("ip", "link", "set", "eth0", "up");
  await ns.sh("ip", "addr", "add", "192.168.9.1/24", "dev", "eth0");
  const vx = nl.linkAdd({
    name: "vx0",
    kind: "vxlan",
    vxlan: { id: 1, port: 8472, learning: false, dev: "eth0" },
  });
  nl.linkSet(vx.index, { up: true });
  const events = netEvents({ netns: ns.path });
  try {
    nl.neighSet(vx.index, "10.42.2.0", "0a:58:0a:2a:02:00");
    nl.fdbSet(vx.index, "0a:58:0a:2a:02:00", "192.168.9.2");
    nl.routeReplace({
      dst: "10.42.2.0/24",
      gw: "10.42.2.0",
      dev: vx.index,
      onlink: true,
      protocol: 87,
    });
    nl.routeDel({ dst: "10.42.2.0/24", dev: vx.index });
    const seen: string[] = [];
    for await (const ev of events) {
      if (ev.kind === "neigh" && ev.neigh.index === vx.index) {
        seen.push(`${ev.type} neigh ${ev.neigh.ip} ${ev.neigh.mac}`);
      } else if (ev.kind === "fdb" && ev.fdb.index === vx.index) {
        seen.push(`${ev.type} fdb ${ev.fdb.mac} ${ev.fdb.dst}`);
      } else if (ev.kind === "route" && ev.route.index === vx.index) {
        seen.push(
          `${ev.type} route ${ev.route.dst} ${ev.route.gw} ${ev.route.protocol}`,
        );
      }
      if (seen.some((s) => s.startsWith("del route"))) break;
    }
    assertEquals(seen, [
      "new neigh 10.42.2.0 0a:58:0a:2a:02:00",
      "new fdb 0a:58:0a:2a:02:00 192.168.9.2",
      "new route 10.42.2.0/24 10.42.2.0 87",
      "del route 10.42.2.0/24 10.42.2.0 87",
    ]);
  } finally {
    events.close();
  }
});

Deno.test("netEvents with kinds: route sees no neighbour changes", async () => {
  await using ns = await Netns.create("evkind");
  await ns.sh("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1");
  await ns.sh("ip", "link", "set", "d0", "up");
  const events = netEvents({ netns: ns.path, kinds: ["route"] });
  try {
    await ns.sh(
      "ip",
      "neigh",
      "add",
      "10.9.0.2",
      "lladdr",
      "02:00:00:00:00:02",
      "dev",
      "d0",
    );
    await ns.sh("ip", "route", "add", "10.9.0.0/24", "dev", "d0");
    const first = await events.next();
    assert(first.value?.kind === "route", JSON.stringify(first.value));
  } finally {
    events.close();
  }
});

Deno.test("nftEvents reports a rule added by nft and by iptables-nft", async () => {
  await using ns = await Netns.create("evnft");
  const events = nftEvents({ netns: ns.path });
  try {
    await ns.sh("nft", "add", "table", "ip", "t");
    assertEquals((await events.next()).value, { overflow: false });
    await ns.sh("iptables", "-t", "filter", "-A", "FORWARD", "-j", "ACCEPT");
    assertEquals((await events.next()).value, { overflow: false });
  } finally {
    events.close();
  }
});

Deno.test("routeGet with fibMatch answers with the matching route entry", async () => {
  await using ns = await Netns.create("evfib");
  using nl = Netlink.open({ netns: ns.path });
  await ns.sh("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1");
  await ns.sh("ip", "link", "set", "d0", "up");
  await ns.sh("ip", "addr", "add", "192.168.5.1/24", "dev", "d0");
  const r = nl.routeGet("192.168.5.0", { fibMatch: true });
  assertEquals([r.dst, r.protocol, r.index], [
    "192.168.5.0/24",
    2,
    nl.linkGet("d0")!.index,
  ]);
  assertEquals(nl.routeGet("192.168.5.7").dst, "192.168.5.7/32");
});
