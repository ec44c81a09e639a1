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

Deno.test("a next() waiting on an idle netEvents stream wakes for a change made afterwards", async () => {
  await using ns = await Netns.create("evwake");
  await ns.sh("ip", "link", "add", "w0", "type", "veth", "peer", "name", "w0p");
  await ns.sh("ip", "link", "set", "w0", "up");
  const events = netEvents({ netns: ns.path, kinds: ["route"] });
  try {
    const pending = events.next(); // nothing queued: it waits
    await ns.sh("ip", "route", "add", "10.8.0.0/24", "dev", "w0");
    const ev = (await pending).value;
    assert(ev?.kind === "route", JSON.stringify(ev));
    assertEquals([ev.type, ev.route.dst], ["new", "10.8.0.0/24"]);
    // and again after going idle once more
    const again = events.next();
    await ns.sh("ip", "route", "del", "10.8.0.0/24", "dev", "w0");
    const del = (await again).value;
    assert(del?.kind === "route", JSON.stringify(del));
    assertEquals([del.type, del.route.dst], ["del", "10.8.0.0/24"]);
  } finally {
    events.close();
  }
});

Deno.test("nftEvents and netEvents closed while waiting end their next() and free the socket", async () => {
  await using ns = await Netns.create("evwclose");
  const net = netEvents({ netns: ns.path });
  const nft = nftEvents({ netns: ns.path });
  const pending = [net.next(), nft.next(), net.next()];
  net.close();
  nft.close();
  assertEquals((await Promise.all(pending)).map((r) => r.done), [
    true,
    true,
    true,
  ]);
  assertEquals((await net.next()).done, true);
  assertEquals((await nft.return!()).done, true);
});

Deno.test("netEvents reports dropped notifications as one overflow event and goes on", async () => {
  await using ns = await Netns.create("evover");
  await ns.sh("ip", "link", "add", "o0", "type", "veth", "peer", "name", "o0p");
  await ns.sh("ip", "link", "set", "o0", "up");
  const events = netEvents({ netns: ns.path, kinds: ["route"] });
  try {
    // 20000 route notifications while nobody reads: more than the 1 MiB
    // receive buffer holds, so the kernel drops some (ENOBUFS).
    const batch: string[] = [];
    for (let i = 0; i < 20000; i++) {
      batch.push(
        `route add 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${
          i & 255
        }/32 dev o0`,
      );
    }
    const r = await ns.run(["ip", "-batch", "-"], {
      stdin: batch.join("\n") + "\n",
    });
    assertEquals(r.code, 0, r.stderr);
    // Still full: this one is dropped too, or read if nothing was.
    await ns.sh("ip", "route", "add", "10.99.0.0/24", "dev", "o0");
    let overflows = 0;
    for (;;) { // not for-await: leaving that loop would close the stream
      const { value: ev, done } = await events.next();
      assert(!done);
      if (ev.kind === "overflow") overflows++;
      if (ev.kind === "overflow") break;
      if (ev.kind === "route" && ev.route.dst === "10.99.0.0/24") break;
    }
    assertEquals(overflows, 1);
    // The stream goes on: a change made now arrives after what is queued.
    await ns.sh("ip", "route", "add", "10.98.0.0/24", "dev", "o0");
    let after = 0;
    for (;;) {
      const { value: ev, done } = await events.next();
      assert(!done);
      if (ev.kind === "overflow") overflows++;
      else after++;
      if (ev.kind === "route" && ev.route.dst === "10.98.0.0/24") break;
    }
    assertEquals(overflows, 1);
    assert(after > 0);
  } finally {
    events.close();
  }
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
