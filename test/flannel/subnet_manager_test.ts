import { assertEquals, assertRejects } from "@std/assert";
import { IP } from "../../src/net/mod.ts";
import {
  annotationKeys,
  FlannelError,
  leaseFromNode,
  parseNetConf,
} from "../../src/flannel/mod.ts";
import {
  KubeSubnetManager,
  type LeaseEvent,
} from "../../src/flannel/subnet_manager.ts";
import { FakeNodes, PREFIX, vxlanNode } from "./_fake_nodes.ts";

const conf = parseNetConf(`{"Network":"10.42.0.0/16"}`);
const keys = annotationKeys();

function manager(src: FakeNodes, logs: string[] = []) {
  return new KubeSubnetManager({
    source: src,
    nodeName: "a",
    keys,
    conf,
    log: (m) => logs.push(m),
  });
}

Deno.test("annotationKeys() uses flannel's keys and appends the slash", () => {
  assertEquals(keys.backendData, "flannel.alpha.coreos.com/backend-data");
  assertEquals(
    keys.publicIPOverwrite,
    "flannel.alpha.coreos.com/public-ip-overwrite",
  );
  assertEquals(
    annotationKeys("example.com/x").publicIP,
    "example.com/x/public-ip",
  );
});

Deno.test("leaseFromNode() skips nodes with missing or malformed annotations", () => {
  const good = vxlanNode(
    "b",
    "10.42.2.0/24",
    "192.168.9.2",
    "aa:bb:cc:dd:ee:02",
  );
  const r = leaseFromNode(good, keys);
  if (!("lease" in r)) throw new Error(r.skip);
  assertEquals(r.lease.subnet?.toString(), "10.42.2.0/24");
  assertEquals(r.lease.publicIP?.toString(), "192.168.9.2");
  const mutate = (f: (a: Record<string, string>) => void, spec?: object) => {
    const n = structuredClone(good);
    f(n.metadata.annotations!);
    if (spec) n.spec = spec;
    return leaseFromNode(n, keys);
  };
  const skips = [
    mutate((a) => delete a[`${PREFIX}kube-subnet-manager`]),
    mutate((a) => delete a[`${PREFIX}public-ip`]),
    mutate((a) => a[`${PREFIX}public-ip`] = "not-an-ip"),
    mutate((a) => a[`${PREFIX}backend-data`] = "{bad json"),
    mutate(() => {}, {}),
    mutate(() => {}, { podCIDR: "10.42.x.0/24" }),
    mutate(() => {}, {
      podCIDRs: ["10.42.1.0/24", "10.42.2.0/24", "10.42.3.0/24"],
    }),
  ];
  for (const s of skips) assertEquals("skip" in s, true, JSON.stringify(s));
  const over = mutate((a) => a[`${PREFIX}public-ip-overwrite`] = "203.0.113.9");
  if (!("lease" in over)) throw new Error("overwrite lease skipped");
  assertEquals(over.lease.publicIP?.toString(), "203.0.113.9");
  const dual = mutate(() => {}, {
    podCIDRs: ["10.42.1.0/24", "2001:cafe:42:1::/64", "10.42.7.0/24"].slice(
      0,
      2,
    ),
  });
  if (!("lease" in dual)) throw new Error("dual lease skipped");
  assertEquals(dual.lease.subnet?.toString(), "10.42.1.0/24");
});

Deno.test("ownSubnets() waits for the podCIDR and rejects one outside Network", async () => {
  const src = new FakeNodes();
  const logs: string[] = [];
  const sm = manager(src, logs);
  const ac = new AbortController();
  const p = sm.ownSubnets(ac.signal, 5);
  await new Promise((r) => setTimeout(r, 20));
  src.put({ metadata: { name: "a" }, spec: {} });
  await new Promise((r) => setTimeout(r, 20));
  src.put({ metadata: { name: "a" }, spec: { podCIDR: "10.42.5.0/24" } });
  const own = await p;
  assertEquals(own.v4?.toString(), "10.42.5.0/24");
  assertEquals(logs, [
    "waiting for node a to be registered",
    "waiting for node a to be assigned a podCIDR",
  ]);
  src.put({ metadata: { name: "a" }, spec: { podCIDR: "10.99.0.0/24" } });
  await assertRejects(
    () => sm.ownSubnets(ac.signal, 5),
    FlannelError,
    "outside",
  );
});

Deno.test("publish() patches annotations only when they differ", async () => {
  const src = new FakeNodes();
  src.put({ metadata: { name: "a" }, spec: { podCIDR: "10.42.1.0/24" } });
  const sm = manager(src);
  const input = {
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: "02:00:00:00:00:01" },
    publicIP: IP.parse("192.168.9.1"),
    publicIPv6: null,
    overwrite: null,
    overwrite6: null,
  };
  assertEquals(await sm.publish((await src.getNode("a"))!, input), true);
  const a = (await src.getNode("a"))!.metadata.annotations!;
  assertEquals(a[`${PREFIX}kube-subnet-manager`], "true");
  assertEquals(a[`${PREFIX}backend-type`], "vxlan");
  assertEquals(
    a[`${PREFIX}backend-data`],
    `{"VNI":1,"VtepMAC":"02:00:00:00:00:01"}`,
  );
  assertEquals(a[`${PREFIX}public-ip`], "192.168.9.1");
  assertEquals(await sm.publish((await src.getNode("a"))!, input), false);
  assertEquals(src.patches.length, 1);
  await sm.publish((await src.getNode("a"))!, {
    ...input,
    overwrite: IP.parse("203.0.113.1"),
  });
  assertEquals(src.patches[1].annotations, {
    [`${PREFIX}public-ip`]: "203.0.113.1",
    [`${PREFIX}public-ip-overwrite`]: "203.0.113.1",
  });
  // An overwrite set by an operator is kept without the flag.
  assertEquals(await sm.publish((await src.getNode("a"))!, input), false);
  // node-public-ip (operator) replaces the detected address.
  await src.patchAnnotations("a", {
    [`${PREFIX}public-ip-overwrite`]: null,
    [`${PREFIX}node-public-ip`]: "198.51.100.4",
  });
  await sm.publish((await src.getNode("a"))!, input);
  assertEquals(
    (await src.getNode("a"))!.metadata.annotations![`${PREFIX}public-ip`],
    "198.51.100.4",
  );
});

Deno.test("watch() turns node changes into lease events, dropping our own and logging a skip once", async () => {
  const src = new FakeNodes();
  src.put({ metadata: { name: "a" }, spec: { podCIDR: "10.42.1.0/24" } });
  src.put(vxlanNode("b", "10.42.2.0/24", "192.168.9.2", "02:00:00:00:00:02"));
  src.put(vxlanNode("c", "10.42.3.0/24", "bogus", "02:00:00:00:00:03"));
  // A node claiming our subnet is not a peer.
  src.put(vxlanNode("z", "10.42.1.0/24", "192.168.9.26", "02:00:00:00:00:1a"));
  const logs: string[] = [];
  const sm = manager(src, logs);
  await sm.ownSubnets(new AbortController().signal);
  const events: string[] = [];
  const ac = new AbortController();
  const w = sm.watch((ev: LeaseEvent) => {
    events.push(
      ev.type === "synced"
        ? `synced ${ev.leases.length}`
        : `${ev.type} ${ev.lease.node} ${ev.lease.publicIP}`,
    );
  }, ac.signal);
  await new Promise((r) => setTimeout(r, 10));
  assertEquals(events, ["added b 192.168.9.2", "synced 1"]);
  // c updated but still malformed: no second log line.
  src.put({ ...vxlanNode("c", "10.42.3.0/24", "bogus", "02:00:00:00:00:03") });
  assertEquals(logs.filter((l) => l.includes("node c")).length, 1);
  // c fixed -> added; b unchanged update -> nothing; b new IP -> removed+added.
  src.put(vxlanNode("c", "10.42.3.0/24", "192.168.9.3", "02:00:00:00:00:03"));
  src.put(vxlanNode("b", "10.42.2.0/24", "192.168.9.2", "02:00:00:00:00:02"));
  src.put(vxlanNode("b", "10.42.2.0/24", "192.168.9.22", "02:00:00:00:00:02"));
  src.remove("c");
  await new Promise((r) => setTimeout(r, 10));
  assertEquals(events.slice(2), [
    "added c 192.168.9.3",
    "removed b 192.168.9.2",
    "added b 192.168.9.22",
    "removed c 192.168.9.3",
  ]);
  assertEquals(sm.leases().map((l) => l.node), ["b"]);
  ac.abort();
  await w.done;
});

Deno.test("nodeChanged() ignores (and logs once) a lease outside the network or with another mask than ours", () => {
  const logs: string[] = [];
  const sm = manager(new FakeNodes(), logs);
  const mac = "aa:bb:cc:dd:ee:02";
  for (
    const [name, cidr] of [
      ["ul", "192.168.9.0/24"],
      ["small", "10.42.2.0/25"],
      ["big", "10.42.0.0/16"],
      ["all", "0.0.0.0/0"],
    ]
  ) {
    const n = vxlanNode(name, cidr, "192.168.9.9", mac);
    assertEquals(sm.nodeChanged(n), []);
    assertEquals(sm.nodeChanged(n), []);
  }
  assertEquals(logs.length, 4, logs.join("\n"));
  assertEquals(
    logs.filter((l) => l.includes("outside the flannel network")).length,
    2,
  );
  assertEquals(
    logs.filter((l) => l.includes("does not have the node mask /24")).length,
    2,
  );
  assertEquals(sm.leases(), []);
  // A good lease of the same node is taken once it is fixed.
  const fixed = sm.nodeChanged(
    vxlanNode("small", "10.42.2.0/24", "192.168.9.9", mac),
  );
  assertEquals(fixed.map((e) => e.type), ["added"]);
});

Deno.test("nodeChanged() reports each refused lease once to onReject (LeaseRejected events), not a lease that is merely incomplete", () => {
  const rejected: string[] = [];
  const sm = new KubeSubnetManager({
    source: new FakeNodes(),
    nodeName: "a",
    keys,
    conf,
    log: () => {},
    onReject: (m) => rejected.push(m),
  });
  const mac = "aa:bb:cc:dd:ee:02";
  const rogue = vxlanNode("rogue", "192.168.9.0/24", "192.168.9.9", mac);
  sm.nodeChanged(rogue);
  sm.nodeChanged(rogue);
  const noCidr = vxlanNode("fresh", "10.42.3.0/24", "192.168.9.9", mac);
  delete (noCidr.spec as { podCIDR?: string }).podCIDR;
  delete (noCidr.spec as { podCIDRs?: string[] }).podCIDRs;
  sm.nodeChanged(noCidr);
  assertEquals(rejected.length, 1, rejected.join("\n"));
  assertEquals(rejected[0].includes("192.168.9.0/24"), true);
});
