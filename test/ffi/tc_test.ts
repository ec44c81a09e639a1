import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { Netlink, NetlinkError } from "../../ffi/mod.ts";
import { Netns } from "../harness/netns.ts";

// deno-lint-ignore no-explicit-any
type J = Record<string, any>;

Deno.test("qdiscTbf installs a root tbf with rate and burst, replacing on a second call", async () => {
  await using ns = await Netns.create("tbf");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({ name: "va", kind: "veth", up: true, peer: { name: "vb" } });
  nl.qdiscTbf("va", { rate: 1_000_000, burst: 10_000 });
  nl.qdiscTbf("va", { rate: 8_000_000, burst: 20_000 });
  const q = (await ns.json<J[]>("tc", "-j", "qdisc", "show", "dev", "va")).find(
    (q) => q.kind === "tbf",
  );
  assertEquals([q?.handle, q?.root], ["1:", true]);
  assertEquals(q?.options.rate, 1_000_000); // tc -j prints bytes per second
  assertEquals(q?.options.burst, 20_000);
  assertEquals(q?.options.lat, 25_000); // limit sized for the default 25 ms
  const text = await ns.sh("tc", "qdisc", "show", "dev", "va");
  assertMatch(text, /tbf 1: root .*rate 8Mbit burst 20000b/);
  assertEquals(nl.qdiscList("va").find((q) => q.kind === "tbf"), {
    dev: "va",
    kind: "tbf",
    parent: "root",
    handle: "1:",
  });
  nl.qdiscDel("va", "root");
  assert(!(await ns.sh("tc", "qdisc", "show", "dev", "va")).includes("tbf"));
  assertThrows(
    () => nl.qdiscTbf("va", { rate: 0, burst: 1 }),
    RangeError,
    "positive rate",
  );
  // libnl takes the rate as an int of bytes/s
  assertThrows(
    () => nl.qdiscTbf("va", { rate: 20e9 * 8, burst: 1000 }),
    RangeError,
    "above what libnl takes",
  );
});

Deno.test("qdiscIngress + redirectIngress mirror a device's ingress to an ifb", async () => {
  await using ns = await Netns.create("ingress");
  await using peer = await Netns.create("ingresspeer");
  using nl = Netlink.open({ netns: ns.path });
  nl.linkAdd({
    name: "va",
    kind: "veth",
    up: true,
    peer: { name: "vb", netns: peer.path },
  });
  nl.linkAdd({ name: "ifb0", kind: "ifb", up: true });
  nl.qdiscIngress("va");
  nl.qdiscIngress("va"); // already there: no error
  nl.redirectIngress("va", "ifb0");
  const qs = await ns.json<J[]>("tc", "-j", "qdisc", "show", "dev", "va");
  assertEquals(
    qs.filter((q) => q.kind === "ingress").map((q) => [q.handle, q.parent]),
    [["ffff:", "ffff:fff1"]],
  );
  assertEquals(nl.qdiscList("va").filter((q) => q.kind === "ingress"), [
    { dev: "va", kind: "ingress", parent: "ffff:fff1", handle: "ffff:" },
  ]);
  const filters = await ns.sh("tc", "filter", "show", "dev", "va", "ingress");
  assertMatch(filters, /u32/);
  assertMatch(filters, /match 00000000\/00000000 at 0/);
  assertMatch(filters, /mirred \(Egress Redirect to device ifb0\) stolen/);

  // Traffic entering va (sent from vb in the peer namespace) is counted by ifb0 (ifb counts redirected packets as received).
  nl.addrAdd("va", "10.9.0.1/24");
  await peer.sh("ip", "addr", "add", "10.9.0.2/24", "dev", "vb");
  await peer.sh("ip", "link", "set", "vb", "up");
  const before = await ifbRxPackets(ns);
  // (no ping on the host: a TCP connect attempt sends ARP and SYNs into va)
  await peer.run([
    "curl",
    "-s",
    "--connect-timeout",
    "1",
    "http://10.9.0.1:9/",
  ]);
  assert(
    (await ifbRxPackets(ns)) > before,
    "ifb0 received no redirected packets",
  );

  nl.qdiscDel("va", "ingress");
  assertEquals(
    (await ns.json<J[]>("tc", "-j", "qdisc", "show", "dev", "va")).filter((q) =>
      q.kind === "ingress"
    ),
    [],
  );
  assertEquals(
    assertThrows(() => nl.redirectIngress("va", "nope0"), NetlinkError).code,
    "ENODEV",
  );
});

async function ifbRxPackets(ns: Netns): Promise<number> {
  const [l] = await ns.json<J[]>(
    "ip",
    "-j",
    "-s",
    "link",
    "show",
    "dev",
    "ifb0",
  );
  return l.stats64.rx.packets;
}
