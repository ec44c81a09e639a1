import { assert, assertEquals } from "@std/assert";
import type { FlannelEvent, FlannelOptions } from "../../src/flannel/mod.ts";
import { flannelLeases, flannelRepairs } from "../../src/metrics/mod.ts";
import { Agent } from "./_agent.ts";
import { FakeNodes, PREFIX } from "./_fake_nodes.ts";
import { overlayState } from "./_flannel1.ts";
import { eventually, exchange, reaches, Underlay } from "./_underlay.ts";

Deno.test("runFlannel: two nodes publish leases, program each other, survive a deleted device and a restart", async () => {
  await using u = await Underlay.create(3);
  const dir = await Deno.makeTempDir();
  const src = new FakeNodes();
  for (const [i] of u.nodes.entries()) {
    src.put({
      metadata: { name: `n${i}` },
      spec: { podCIDR: `10.42.${i + 1}.0/24` },
    });
  }
  const reports: [string, FlannelEvent["reason"]][] = [];
  const opts = (i: number): FlannelOptions => ({
    nodeName: `n${i}`,
    nodes: src,
    dataDir: `${dir}/n${i}`,
    runDir: `${dir}/n${i}/run`,
    netns: u.nodes[i].ns.path,
    reconcileIntervalMs: 60_000,
    rulesIntervalMs: 60_000,
    report: (e) => reports.push([`n${i}`, e.reason]),
  });
  const agents = [new Agent(opts(0)), new Agent(opts(1))];
  try {
    await eventually(
      "both agents ready",
      () => agents.every((a) => a.ready || a.error),
    );
    for (const a of agents) assertEquals(a.error, null, a.logs.join("\n"));
    assertEquals(reports.sort(), [["n0", "FlannelUp"], ["n1", "FlannelUp"]]);
    const recreated = flannelRepairs.get({ kind: "device_recreated" });
    const ann = (i: number) => src.nodes.get(`n${i}`)!.metadata.annotations!;
    const mac0 = JSON.parse(ann(0)[`${PREFIX}backend-data`]).VtepMAC;
    const mac1 = JSON.parse(ann(1)[`${PREFIX}backend-data`]).VtepMAC;
    assertEquals(ann(0)[`${PREFIX}public-ip`], "192.168.77.1");
    assertEquals(ann(0)[`${PREFIX}backend-type`], "vxlan");
    assertEquals(ann(0)[`${PREFIX}kube-subnet-manager`], "true");
    assertEquals(
      src.conditions.filter((c) => c.reason === "FlannelIsUp").map((c) =>
        c.name
      ).sort(),
      ["n0", "n1"],
    );
    assertEquals(
      await Deno.readTextFile(`${dir}/n0/run/subnet.env`),
      "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    assertEquals(
      JSON.parse(
        await Deno.readTextFile(`${dir}/n0/agent/etc/flannel/net-conf.json`),
      ).Backend,
      { Type: "vxlan" },
    );
    assert(
      (await u.nodes[0].ns.sh("iptables-save", "-t", "nat")).includes(
        "FLANNEL-POSTRTG",
      ),
    );
    const want0 = {
      routes: ["10.42.2.0/24 via 10.42.2.0"],
      neighs: [`10.42.2.0 ${mac1}`],
      fdb: [`${mac1} 192.168.77.2`],
    };
    await eventually(
      "n0 has n1's lease",
      async () =>
        JSON.stringify(await overlayState(u.nodes[0].ns)) ===
          JSON.stringify(want0),
    );
    assert(
      await reaches(u.nodes[0].ns, "10.42.2.0", "10.42.1.0", u.nodes[1].ns),
    );

    // Deleting flannel.1 by hand: it comes back with every entry.
    await u.nodes[0].ns.sh("ip", "link", "del", "flannel.1");
    await eventually(
      "flannel.1 recreated",
      async () =>
        JSON.stringify(await overlayState(u.nodes[0].ns).catch(() => null)) ===
          JSON.stringify(want0),
    );
    assert(agents[0].logs.some((l) => l.includes("flannel.1 was deleted")));
    assert(flannelRepairs.get({ kind: "device_recreated" }) > recreated);
    // Two running agents, one remote lease each (read at scrape time).
    assertEquals(flannelLeases.samples()[0].value, 2);
    assert(
      await reaches(u.nodes[0].ns, "10.42.2.0", "10.42.1.0", u.nodes[1].ns),
    );

    // A third node joins, then leaves.
    const third = new Agent(opts(2));
    await eventually("third ready", () => third.ready || !!third.error);
    assertEquals(third.error, null, third.logs.join("\n"));
    await eventually(
      "n0 sees n2",
      async () =>
        (await overlayState(u.nodes[0].ns)).routes.includes(
          "10.42.3.0/24 via 10.42.3.0",
        ),
    );
    await third.stop();
    src.remove("n2");
    await eventually(
      "n0 forgets n2",
      async () =>
        JSON.stringify(await overlayState(u.nodes[0].ns)) ===
          JSON.stringify(want0),
    );

    // Stop leaves the dataplane; a restart keeps the MAC and writes nothing.
    await agents[0].stop();
    assertEquals(await overlayState(u.nodes[0].ns), want0);
    const patches = src.patches.length;
    agents[0] = new Agent(opts(0));
    await eventually("restarted", () => agents[0].ready || !!agents[0].error);
    assertEquals(agents[0].error, null, agents[0].logs.join("\n"));
    assertEquals(JSON.parse(ann(0)[`${PREFIX}backend-data`]).VtepMAC, mac0);
    assertEquals(src.patches.length, patches);
    assert(
      !agents[0].logs.some((l) => l.startsWith("reconcile")),
      agents[0].logs.join("\n"),
    );
    assert(
      !agents[0].logs.some((l) => l.startsWith("created")),
      agents[0].logs.join("\n"),
    );
    assertEquals(await overlayState(u.nodes[0].ns), want0);
  } finally {
    for (const a of agents) await a.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runFlannel: host-gw with a --flannel-conf file and stale rules of an old subnet removed", async () => {
  await using u = await Underlay.create(1);
  const dir = await Deno.makeTempDir();
  try {
    const src = new FakeNodes();
    src.put({ metadata: { name: "n0" }, spec: { podCIDR: "10.42.5.0/24" } });
    await Deno.mkdir(`${dir}/run`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/run/subnet.env`,
      "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.9.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    await u.nodes[0].ns.sh("iptables", "-t", "nat", "-N", "FLANNEL-POSTRTG");
    await u.nodes[0].ns.sh(
      "iptables",
      "-t",
      "nat",
      "-A",
      "FLANNEL-POSTRTG",
      "-s",
      "10.42.9.0/24",
      "-j",
      "RETURN",
    );
    await Deno.writeTextFile(
      `${dir}/conf.json`,
      `{"network":"10.42.0.0/16","backend":{"type":"host-gw"}}`,
    );
    const a = new Agent({
      nodeName: "n0",
      nodes: src,
      dataDir: dir,
      runDir: `${dir}/run`,
      flannelConf: `${dir}/conf.json`,
      netns: u.nodes[0].ns.path,
    });
    try {
      await eventually("ready", () => a.ready || !!a.error);
      assertEquals(a.error, null, a.logs.join("\n"));
      const env = await Deno.readTextFile(`${dir}/run/subnet.env`);
      assert(
        env.includes("FLANNEL_SUBNET=10.42.5.1/24\nFLANNEL_MTU=1500\n"),
        env,
      );
      const nat = await u.nodes[0].ns.sh("iptables-save", "-t", "nat");
      assert(!nat.includes("10.42.9.0/24"), nat);
      assert(nat.includes("-s 10.42.5.0/24 -d 10.42.0.0/16"), nat);
      assertEquals(
        src.nodes.get("n0")!.metadata.annotations![`${PREFIX}backend-data`],
        "null",
      );
      assertEquals(
        src.nodes.get("n0")!.metadata.annotations![`${PREFIX}backend-type`],
        "host-gw",
      );
    } finally {
      await a.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runFlannel: dual-stack publishes backend-v6-data and public-ipv6, writes the IPv6 lines, programs both families", async () => {
  await using u = await Underlay.create(2, { v6: true });
  const dir = await Deno.makeTempDir();
  const src = new FakeNodes();
  for (const i of [0, 1]) {
    src.put({
      metadata: { name: `n${i}` },
      spec: { podCIDRs: [`10.42.${i + 1}.0/24`, `fd42:0:0:${i + 1}::/64`] },
    });
  }
  const agents = [0, 1].map((i) =>
    new Agent({
      nodeName: `n${i}`,
      nodes: src,
      dataDir: `${dir}/n${i}`,
      runDir: `${dir}/n${i}/run`,
      netns: u.nodes[i].ns.path,
      clusterCIDRs: ["10.42.0.0/16", "fd42::/56"],
    })
  );
  try {
    await eventually(
      "both ready",
      () => agents.every((a) => a.ready || a.error),
    );
    for (const a of agents) assertEquals(a.error, null, a.logs.join("\n"));
    const ann = src.nodes.get("n0")!.metadata.annotations!;
    assertEquals(ann[`${PREFIX}public-ipv6`], "fd00:77::1");
    const v6data = JSON.parse(ann[`${PREFIX}backend-v6-data`]);
    const [link] = await u.nodes[0].ns.json<{ address: string }[]>(
      "ip",
      "-j",
      "link",
      "show",
      "flannel-v6.1",
    );
    assertEquals(v6data, { VNI: 1, VtepMAC: link.address });
    assertEquals(
      await Deno.readTextFile(`${dir}/n0/run/subnet.env`),
      "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.1.1/24\n" +
        "FLANNEL_IPV6_NETWORK=fd42::/56\nFLANNEL_IPV6_SUBNET=fd42:0:0:1::1/64\n" +
        "FLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n",
    );
    await eventually(
      "IPv6 route to n1",
      async () =>
        (await u.nodes[0].ns.json<{ dst: string; gateway?: string }[]>(
          "ip",
          "-j",
          "-6",
          "route",
          "show",
          "dev",
          "flannel-v6.1",
        )).some((r) =>
          r.dst === "fd42:0:0:2::/64" && r.gateway === "fd42:0:0:2::"
        ),
    );
    assertEquals(
      await exchange(
        u.nodes[0].ns,
        "fd42:0:0:2::",
        "fd42:0:0:1::",
        u.nodes[1].ns,
      ),
      "fd42:0:0:1::",
    );
    assertEquals(
      await exchange(u.nodes[0].ns, "10.42.2.0", "10.42.1.0", u.nodes[1].ns),
      "10.42.1.0",
    );
  } finally {
    for (const a of agents) await a.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runFlannel: stopped while waiting for the podCIDR, it returns without error", async () => {
  await using u = await Underlay.create(1);
  const dir = await Deno.makeTempDir();
  try {
    const src = new FakeNodes();
    src.put({ metadata: { name: "n0" }, spec: {} });
    const a = new Agent({
      nodeName: "n0",
      nodes: src,
      dataDir: dir,
      runDir: `${dir}/run`,
      netns: u.nodes[0].ns.path,
    });
    await eventually(
      "waiting logged",
      () => a.logs.some((l) => l.includes("to be assigned a podCIDR")),
    );
    await a.stop();
    assertEquals(a.error, null);
    assertEquals(a.ready, false);
    assertEquals(
      await u.nodes[0].ns.run(["ip", "link", "show", "flannel.1"]).then((r) =>
        r.code
      ),
      1,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
