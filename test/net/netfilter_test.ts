import { assert, assertEquals, assertRejects } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import {
  chooseBackend,
  conntrackDeletePort,
  hashedChainName,
  Iptables,
  NetfilterError,
  Nft,
  parseSave,
  renderRestore,
  splitArgs,
} from "../../src/net/netfilter/mod.ts";

const COMMENT = 'name: "net" id: "abc"';

Deno.test("splitArgs() undoes iptables-save quoting", () => {
  assertEquals(
    splitArgs('-A X -m comment --comment "name: \\"net\\" id: \\"abc\\"" -j Y'),
    ["-A", "X", "-m", "comment", "--comment", COMMENT, "-j", "Y"],
  );
  assertEquals(splitArgs('-A X --comment ""'), ["-A", "X", "--comment", ""]);
});

Deno.test("renderRestore() quotes arguments so parseSave round-trips", () => {
  const text = renderRestore([{
    table: "nat",
    chains: ["C"],
    rules: [["-A", "C", "-m", "comment", "--comment", COMMENT, "-j", "ACCEPT"]],
  }]);
  const t = parseSave(text).get("nat")!;
  assertEquals([...t.chains.keys()], ["C"]);
  assertEquals(t.rules[0].spec, [
    "-m",
    "comment",
    "--comment",
    COMMENT,
    "-j",
    "ACCEPT",
  ]);
});

Deno.test("hashedChainName() is prefix + sha512 hex", async () => {
  // sha512("") starts with cf83e1357eefb8bdf1542850
  assertEquals(
    await hashedChainName("CNI-", "", 24),
    "CNI-cf83e1357eefb8bdf1542850",
  );
});

Deno.test("Iptables restore, checks and removeChain run inside the netns", async () => {
  await using ns = await Netns.create("nf");
  const ipt = new Iptables({ netns: ns.path });
  const spec = [
    "-d",
    "10.1.0.0/24",
    "-m",
    "comment",
    "--comment",
    COMMENT,
    "-j",
    "ACCEPT",
  ];
  await ipt.restore([{
    table: "nat",
    chains: ["CNI-T"],
    rules: [
      ["-A", "CNI-T", ...spec],
      ["-A", "POSTROUTING", "-s", "10.1.0.2/32", "-j", "CNI-T"],
    ],
  }]);
  const saved = await ns.sh("iptables-save", "-t", "nat");
  assert(saved.includes(":CNI-T - [0:0]"), saved);
  assert(
    saved.includes(
      '-A CNI-T -d 10.1.0.0/24 -m comment --comment "name: \\"net\\" id: \\"abc\\"" -j ACCEPT',
    ),
    saved,
  );
  assert(await ipt.chainExists("nat", "CNI-T"));
  assert(!(await ipt.chainExists("nat", "CNI-NOPE")));
  assert(await ipt.ruleExists("nat", "CNI-T", spec));
  assert(
    !(await ipt.ruleExists("nat", "CNI-T", [
      "-d",
      "10.9.0.0/24",
      "-j",
      "ACCEPT",
    ])),
  );
  assertEquals(await ipt.listRules("nat", "CNI-T"), [spec]);

  await ipt.appendUnique("nat", "CNI-T", ["-j", "RETURN"]);
  await ipt.appendUnique("nat", "CNI-T", ["-j", "RETURN"]);
  await ipt.insertUnique("nat", "CNI-T", ["-s", "1.2.3.4/32", "-j", "RETURN"]);
  const rules = await ipt.listRules("nat", "CNI-T");
  assertEquals(rules.length, 3);
  assertEquals(rules[0], ["-s", "1.2.3.4/32", "-j", "RETURN"]);
  assertEquals(await ipt.deleteRule("nat", "CNI-T", ["-j", "RETURN"]), 1);
  assertEquals(await ipt.deleteRule("nat", "CNI-T", ["-j", "RETURN"]), 0);

  await ipt.removeChain("nat", "CNI-T");
  const after = await ns.sh("iptables-save", "-t", "nat");
  assert(!after.includes("CNI-T"), after);
  await ipt.removeChain("nat", "CNI-T"); // gone is fine
  // the host's own ruleset was never touched
  const host = new Iptables();
  assert(!(await host.chainExists("nat", "CNI-T")));
});

Deno.test("Iptables family 6 uses ip6tables", async () => {
  await using ns = await Netns.create("nf6");
  const ipt = new Iptables({ netns: ns.path, family: 6 });
  await ipt.restore([{
    table: "nat",
    chains: ["CNI-6"],
    rules: [["-A", "CNI-6", "-d", "fd00::/64", "-j", "ACCEPT"]],
  }]);
  const saved = await ns.sh("ip6tables-save", "-t", "nat");
  assert(saved.includes("-A CNI-6 -d fd00::/64 -j ACCEPT"), saved);
  assert(!(await new Iptables({ netns: ns.path }).chainExists("nat", "CNI-6")));
});

Deno.test("Iptables reports a bad rule as NetfilterError", async () => {
  await using ns = await Netns.create("nfbad");
  const ipt = new Iptables({ netns: ns.path });
  await assertRejects(
    () =>
      ipt.restore([{
        table: "nat",
        rules: [["-A", "NOPE-CHAIN", "-j", "ACCEPT"]],
      }]),
    NetfilterError,
  );
});

Deno.test("Nft apply, list, deleteRulesByComment and deleteTable inside the netns", async () => {
  await using ns = await Netns.create("nft");
  const nft = new Nft({ netns: ns.path });
  await nft.apply(`add table ip weft_t
add chain ip weft_t c
add rule ip weft_t c ip daddr 10.0.0.1 accept comment "a"
add rule ip weft_t c ip daddr 10.0.0.2 accept comment "b"
`);
  assert(await nft.tableExists("ip", "weft_t"));
  assertEquals((await nft.rules("ip", "weft_t", "c")).map((r) => r.comment), [
    "a",
    "b",
  ]);
  assertEquals(await nft.deleteRulesByComment("ip", "weft_t", "a"), 1);
  const listed = await ns.json<
    { nftables: Record<string, { comment?: string }>[] }
  >("nft", "-j", "list", "ruleset");
  const comments = listed.nftables.filter((o) => "rule" in o).map((o) =>
    o.rule.comment
  );
  assertEquals(comments, ["b"]);
  await nft.deleteTable("ip", "weft_t");
  await nft.deleteTable("ip", "weft_t");
  assert(!(await nft.tableExists("ip", "weft_t")));
});

Deno.test("chooseBackend() honours an explicit choice and rejects unknown ones", async () => {
  await using ns = await Netns.create("nfb");
  assertEquals(await chooseBackend("nftables", { netns: ns.path }), "nftables");
  assertEquals(await chooseBackend(undefined, { netns: ns.path }), "iptables");
  await assertRejects(
    () => chooseBackend("ebtables", { netns: ns.path }),
    RangeError,
    "ebtables",
  );
});

Deno.test("Iptables.removeChains drops several chains and every jump to them at once", async () => {
  await using ns = await Netns.create("nfrc");
  const ipt = new Iptables({ netns: ns.path });
  await ipt.restore([{
    table: "filter",
    chains: ["W-A", "W-B", "W-KEEP"],
    rules: [
      ["-A", "INPUT", "-s", "10.0.0.1/32", "-j", "W-A"],
      ["-A", "FORWARD", "-j", "W-B"],
      ["-A", "W-KEEP", "-j", "W-A"],
      ["-A", "W-KEEP", "-j", "RETURN"],
      ["-A", "W-A", "-j", "RETURN"],
    ],
  }]);
  await ipt.removeChains("filter", ["W-A", "W-B", "W-MISSING"]);
  const t = await ipt.table("filter");
  assertEquals([...t.chains.keys()].filter((c) => c.startsWith("W-")), [
    "W-KEEP",
  ]);
  assertEquals(t.rules.map((r) => [r.chain, ...r.spec]), [[
    "W-KEEP",
    "-j",
    "RETURN",
  ]]);
});

Deno.test("conntrackDeletePort() reports false when nothing matched", async () => {
  await using ns = await Netns.create("nfct");
  assertEquals(
    await conntrackDeletePort("udp", 5353, { netns: ns.path }),
    false,
  );
});

Deno.test("Nft.applyJson() takes names nft's text syntax cannot (dots, dashes)", async () => {
  await using ns = await Netns.create("nfj");
  const nft = new Nft({ netns: ns.path });
  await nft.applyJson([
    { add: { table: { family: "bridge", name: "weft_t" } } },
    {
      add: {
        chain: { family: "bridge", table: "weft_t", name: "c-abc.1-eth0" },
      },
    },
    {
      add: {
        rule: {
          family: "bridge",
          table: "weft_t",
          chain: "c-abc.1-eth0",
          expr: [{ drop: null }],
          comment: "x",
        },
      },
    },
  ]);
  const rules = await nft.rules("bridge", "weft_t", "c-abc.1-eth0");
  assertEquals(rules.map((r) => r.comment), ["x"]);
  await assertRejects(
    () =>
      nft.applyJson([{
        add: { chain: { family: "bridge", table: "nope", name: "c" } },
      }]),
    NetfilterError,
  );
});

Deno.test("Iptables.usable() is true for a readable table, false for one that does not exist", async () => {
  await using ns = await Netns.create("iptusable");
  const ipt = new Iptables({ family: 4, netns: ns.path });
  assertEquals(await ipt.usable("nat"), true);
  assertEquals(await ipt.usable("no_such_table"), false);
});
