import { assert, assertEquals } from "@std/assert";
import { CIDR } from "../../src/net/mod.ts";
import {
  IptablesRules,
  NftRules,
  removeOtherMode,
} from "../../src/flannel/masq.ts";
import { Netns } from "../harness/netns.ts";

const input = (pc: string, net = "10.42.0.0/16") => ({
  family: 4 as const,
  network: CIDR.parse(net),
  podCIDR: CIDR.parse(pc),
});

const flannelLines = (save: string) =>
  save.split("\n").filter((l) =>
    l.includes("FLANNEL") || l.includes("flanneld")
  );

Deno.test("iptables: flannel's chains, rules and comments, read back with iptables-save", async () => {
  await using ns = await Netns.create("ipt");
  const rules = new IptablesRules(input("10.42.1.0/24"), {
    masq: true,
    netns: ns.path,
  });
  assertEquals(await rules.ensure(), true);
  assertEquals(flannelLines(await ns.sh("iptables-save", "-t", "nat")), [
    ":FLANNEL-POSTRTG - [0:0]",
    '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
    '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
    '-A FLANNEL-POSTRTG -s 10.42.1.0/24 -d 10.42.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
    '-A FLANNEL-POSTRTG -s 10.42.0.0/16 -d 10.42.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
    '-A FLANNEL-POSTRTG ! -s 10.42.0.0/16 -d 10.42.1.0/24 -m comment --comment "flanneld masq" -j RETURN',
    '-A FLANNEL-POSTRTG -s 10.42.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
    '-A FLANNEL-POSTRTG ! -s 10.42.0.0/16 -d 10.42.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
  ]);
  assertEquals(flannelLines(await ns.sh("iptables-save", "-t", "filter")), [
    ":FLANNEL-FWD - [0:0]",
    '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
    '-A FLANNEL-FWD -s 10.42.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
    '-A FLANNEL-FWD -d 10.42.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
  ]);
  // In place: nothing to do.
  assertEquals(await rules.ensure(), false);
  // A rule deleted by hand is noticed and the chain rebuilt (no duplicates).
  await ns.sh("iptables", "-t", "nat", "-D", "FLANNEL-POSTRTG", "3");
  await ns.sh("iptables", "-D", "FORWARD", "1");
  assertEquals(await rules.ensure(), true);
  assertEquals(
    flannelLines(await ns.sh("iptables-save", "-t", "nat")).length,
    8,
  );
  assertEquals(
    flannelLines(await ns.sh("iptables-save", "-t", "filter")).length,
    4,
  );
  // A new subnet: the old subnet's rules are gone.
  const moved = new IptablesRules(input("10.42.7.0/24"), {
    masq: true,
    netns: ns.path,
  });
  assertEquals(await moved.ensure(), true);
  const nat = await ns.sh("iptables-save", "-t", "nat");
  assert(!nat.includes("10.42.1.0/24"));
  assertEquals(
    nat.split("\n").filter((l) => l.includes("10.42.7.0/24")).length,
    3,
  );
  // Switching to nftables removes the iptables chains and jumps.
  await removeOtherMode(true, [4], ns.path);
  assertEquals(flannelLines(await ns.sh("iptables-save")), []);
});

type NftRule = { rule: { chain: string; expr: unknown[] } };

Deno.test("nftables: table flannel-ipv4 with forward and postrtg chains, rebuilt when changed", async () => {
  await using ns = await Netns.create("nft");
  const rules = new NftRules(input("10.42.1.0/24"), {
    masq: true,
    netns: ns.path,
  });
  assertEquals(await rules.ensure(), true);
  const list = async () =>
    JSON.parse(await ns.sh("nft", "-j", "list", "table", "ip", "flannel-ipv4"))
      .nftables as Record<string, unknown>[];
  const chainRules = async (chain: string) =>
    (await list()).filter((o) =>
      "rule" in o && (o as NftRule).rule.chain === chain
    );
  const chains = (await list()).filter((o) => "chain" in o).map((
    o,
  ) => (o.chain as { name: string; hook: string; type: string }));
  assertEquals(
    chains.map((c) => `${c.name} ${c.type} ${c.hook}`).sort(),
    ["forward filter forward", "postrtg nat postrouting"],
  );
  assertEquals((await chainRules("postrtg")).length, 6);
  assertEquals((await chainRules("forward")).length, 2);
  const text = await ns.sh("nft", "list", "table", "ip", "flannel-ipv4");
  assert(
    text.includes("ip saddr 10.42.1.0/24 ip daddr 10.42.0.0/16 return"),
    text,
  );
  assert(text.includes("masquerade fully-random"), text);
  assertEquals(await rules.ensure(), false);
  // A rule removed by hand -> rebuilt.
  const handle =
    (await ns.sh("nft", "-a", "list", "chain", "ip", "flannel-ipv4", "forward"))
      .match(/accept # handle (\d+)/)![1];
  await ns.sh(
    "nft",
    "delete",
    "rule",
    "ip",
    "flannel-ipv4",
    "forward",
    "handle",
    handle,
  );
  assertEquals(await rules.ensure(), true);
  assertEquals((await chainRules("forward")).length, 2);
  // Switching back to iptables removes the table.
  await removeOtherMode(false, [4], ns.path);
  assertEquals(
    (await ns.run(["nft", "list", "table", "ip", "flannel-ipv4"])).code,
    1,
  );
});

Deno.test("ip6tables: the same chains for IPv6 with ff00::/8", async () => {
  await using ns = await Netns.create("ip6t");
  const rules = new IptablesRules({
    family: 6,
    network: CIDR.parse("fd42::/56"),
    podCIDR: CIDR.parse("fd42:0:0:1::/64"),
  }, { masq: true, netns: ns.path });
  assertEquals(await rules.ensure(), true);
  const nat = flannelLines(await ns.sh("ip6tables-save", "-t", "nat"));
  assertEquals(nat.length, 8);
  assert(
    nat.includes(
      '-A FLANNEL-POSTRTG -s fd42::/56 ! -d ff00::/8 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
    ),
    nat.join("\n"),
  );
  assertEquals(flannelLines(await ns.sh("iptables-save")), []);
  assertEquals(await rules.ensure(), false);
});

Deno.test("check(): the cheap probe notices a missing jump (iptables) or a changed table (nft)", async () => {
  await using ns = await Netns.create("chk");
  const ipt = new IptablesRules(input("10.42.1.0/24"), {
    masq: true,
    netns: ns.path,
  });
  assertEquals(await ipt.check(), false);
  await ipt.ensure();
  assertEquals(await ipt.check(), true);
  await ns.sh(
    "iptables",
    "-t",
    "nat",
    "-D",
    "POSTROUTING",
    "-m",
    "comment",
    "--comment",
    "flanneld masq",
    "-j",
    "FLANNEL-POSTRTG",
  );
  assertEquals(await ipt.check(), false);
  await ipt.ensure();
  await ns.sh(
    "iptables",
    "-D",
    "FORWARD",
    "-m",
    "comment",
    "--comment",
    "flanneld forward",
    "-j",
    "FLANNEL-FWD",
  );
  assertEquals(await ipt.check(), false);

  const nft = new NftRules(input("10.42.1.0/24"), {
    masq: true,
    netns: ns.path,
  });
  assertEquals(await nft.check(), false);
  await nft.ensure();
  assertEquals(await nft.check(), true);
  await ns.sh("nft", "flush", "chain", "ip", "flannel-ipv4", "postrtg");
  assertEquals(await nft.check(), false);
});
