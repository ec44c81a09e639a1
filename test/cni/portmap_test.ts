// portmap chained after bridge, in a test "host" namespace; a client
// namespace wired to the host by a veth plays the outside world.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import {
  type BridgedPod,
  bridgedPod,
  type CniCall,
  cniRun,
  natRules,
  nftTable,
  okJson,
  tcpFetch,
  tcpServe,
} from "../harness/cni_ns.ts";

type Res = Record<string, unknown>;

interface World extends BridgedPod<Res> {
  client: Netns;
}

const MAPPINGS = [
  { hostPort: 8080, containerPort: 80, protocol: "tcp" },
  { hostPort: 5353, containerPort: 53, protocol: "udp" },
];

/** A bridged container plus a client namespace at 10.99.0.2 wired to the host (10.99.0.1). */
async function world(
  impl: "weft" | "reference" = "weft",
  bridgeExtra: Record<string, unknown> = {},
): Promise<World> {
  const pod = await bridgedPod<Res>("pm", impl, {
    isDefaultGateway: true,
    ...bridgeExtra,
  });
  const { host } = pod;
  const client = await Netns.create("pmx");
  const w: World = {
    ...pod,
    client,
    async [Symbol.asyncDispose]() {
      await client[Symbol.asyncDispose]();
      await pod[Symbol.asyncDispose]();
    },
  };
  try {
    await host.sh(
      "ip",
      "link",
      "add",
      "up0",
      "type",
      "veth",
      "peer",
      "name",
      "cl0",
      "netns",
      client.name,
    );
    await host.sh("ip", "addr", "add", "10.99.0.1/24", "dev", "up0");
    await host.sh("ip", "link", "set", "up0", "up");
    await client.sh("ip", "addr", "add", "10.99.0.2/24", "dev", "cl0");
    await client.sh("ip", "link", "set", "cl0", "up");
  } catch (err) {
    await w[Symbol.asyncDispose]();
    throw err;
  }
  return w;
}

function pmConf(prev: Res, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: "1.0.0",
    name: "mynet",
    type: "portmap",
    capabilities: { portMappings: true },
    runtimeConfig: { portMappings: MAPPINGS },
    prevResult: prev,
    ...extra,
  };
}

function pm(
  w: World,
  command: string,
  config: unknown,
  impl: "weft" | "reference" = "weft",
): CniCall {
  return w.call("portmap", command, config, impl);
}

Deno.test("portmap ADD (iptables) writes the reference chains and forwards TCP from outside and from localhost", async () => {
  await using w = await world();
  const add = await cniRun(w.host, pm(w, "ADD", pmConf(w.prev)));
  assertEquals(okJson(add), w.prev);
  const nat = (await natRules(w.host)).join("\n");
  const dn = /:(CNI-DN-[0-9a-f]{21}) /.exec(nat)?.[1];
  assert(dn, nat);
  for (
    const line of [
      "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
      "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
      '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
      '-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000',
      `-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"mynet\\" id: \\"ctr1\\"" -m multiport --dports 8080 -j ${dn}`,
      `-A ${dn} -s 10.22.0.0/24 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
      `-A ${dn} -s 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j CNI-HOSTPORT-SETMARK`,
      `-A ${dn} -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.22.0.2:80`,
      `-A ${dn} -p udp -m udp --dport 5353 -j DNAT --to-destination 10.22.0.2:53`,
    ]
  ) assert(nat.includes(line), `missing ${line}\n${nat}`);
  assertEquals(
    (await w.host.sh("sysctl", "-n", "net.ipv4.conf.cni0.route_localnet"))
      .trim(),
    "1",
  );

  {
    await using srv = await tcpServe(w.cont, "0.0.0.0", 80, "from-container");
    assertEquals(await tcpFetch(w.client, "10.99.0.1", 8080), "from-container");
    await srv.done;
  }
  {
    await using srv = await tcpServe(w.cont, "0.0.0.0", 80, "via-localhost");
    assertEquals(await tcpFetch(w.host, "127.0.0.1", 8080), "via-localhost");
    await srv.done;
  }

  assertEquals((await cniRun(w.host, pm(w, "CHECK", pmConf(w.prev)))).code, 0);
  await w.host.sh("iptables", "-t", "nat", "-F", dn!);
  const bad = await cniRun(w.host, pm(w, "CHECK", pmConf(w.prev)));
  assertEquals(bad.code, 1);
  assertMatch(JSON.parse(bad.stdout).msg, /missing/);

  const del = await cniRun(w.host, pm(w, "DEL", pmConf(w.prev)));
  assertEquals(del.code, 0, del.stdout + del.stderr);
  const after = (await natRules(w.host)).join("\n");
  assert(!after.includes("CNI-DN-"), after);
  assertEquals((await cniRun(w.host, pm(w, "DEL", pmConf(w.prev)))).code, 0);
});

Deno.test("portmap matches the reference plugin's iptables rules", async () => {
  const rules = async (impl: "weft" | "reference") => {
    await using w = await world(impl);
    const conf = pmConf(w.prev, {
      runtimeConfig: {
        portMappings: [
          ...MAPPINGS,
          {
            hostPort: 9090,
            containerPort: 90,
            protocol: "tcp",
            hostIP: "10.99.0.1",
          },
        ],
      },
    });
    okJson(await cniRun(w.host, pm(w, "ADD", conf, impl)));
    const nat = await natRules(w.host);
    const sysctl =
      (await w.host.sh("sysctl", "-n", "net.ipv4.conf.cni0.route_localnet"))
        .trim();
    return { nat, sysctl };
  };
  const ref = await rules("reference");
  const weft = await rules("weft");
  assert(
    ref.nat.some((l) => l.includes("--to-destination 10.22.0.2:90")),
    ref.nat.join("\n"),
  );
  assertEquals(weft, ref);
});

Deno.test("portmap ADD with the nftables backend forwards TCP; DEL removes its rules", async () => {
  await using w = await world();
  const conf = pmConf(w.prev, { backend: "nftables" });
  okJson(await cniRun(w.host, pm(w, "ADD", conf)));
  const doc = await nftTable(w.host, "ip", "cni_hostport");
  const rules = doc.filter((o) => o.rule).map((o) => o.rule);
  assertEquals(
    rules.filter((r) => r.comment === "ctr1").map((r) => r.chain).sort(),
    [
      "hostports",
      "hostports",
      "masquerading",
      "masquerading",
    ],
  );
  const chains = doc.filter((o) => o.chain).map((o) => o.chain.name)
    .sort();
  assertEquals(chains, [
    "hostip_hostports",
    "hostports",
    "masquerading",
    "output",
    "prerouting",
  ]);
  assertEquals(
    (await natRules(w.host)).filter((l) => l.includes("HOSTPORT")),
    [],
  );
  {
    await using srv = await tcpServe(w.cont, "0.0.0.0", 80, "nft-forwarded");
    assertEquals(await tcpFetch(w.client, "10.99.0.1", 8080), "nft-forwarded");
    await srv.done;
  }
  assertEquals((await cniRun(w.host, pm(w, "CHECK", conf))).code, 0);
  assertEquals((await cniRun(w.host, pm(w, "DEL", conf))).code, 0);
  const left = await nftTable(w.host, "ip", "cni_hostport");
  assertEquals(
    left.filter((o) => o.rule && o.rule.comment === "ctr1"),
    [],
  );
});

Deno.test("portmap flushes stale UDP conntrack entries for its host ports (plugins#123)", async () => {
  await using w = await world();
  // a flow to host port 5353 before the mapping exists
  // a conntrack match makes the namespace track flows
  await w.host.sh(
    "iptables",
    "-A",
    "INPUT",
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-j",
    "ACCEPT",
  );
  await w.client.run(["bash", "-c", "echo x > /dev/udp/10.99.0.1/5353"]);
  const before = await w.host.run([
    "conntrack",
    "-L",
    "-p",
    "udp",
    "--dport",
    "5353",
  ]);
  assertMatch(before.stdout, /dport=5353/, before.stderr);
  okJson(await cniRun(w.host, pm(w, "ADD", pmConf(w.prev))));
  const after = await w.host.run([
    "conntrack",
    "-L",
    "-p",
    "udp",
    "--dport",
    "5353",
  ]);
  assert(!after.stdout.includes("dport=5353"), after.stdout);
});

Deno.test("portmap GC removes chains of containers not listed", async () => {
  await using w = await world();
  okJson(await cniRun(w.host, pm(w, "ADD", pmConf(w.prev))));
  okJson(
    await cniRun(w.host, {
      ...pm(w, "ADD", pmConf(w.prev)),
      containerId: "other",
    }),
  );
  const count = async () =>
    (await natRules(w.host)).filter((l) => /^:CNI-DN-/.test(l)).length;
  assertEquals(await count(), 2);
  const gc = await cniRun(
    w.host,
    pm(w, "GC", {
      cniVersion: "1.1.0",
      name: "mynet",
      type: "portmap",
      "cni.dev/valid-attachments": [{ containerID: "ctr1", ifname: "eth0" }],
    }),
  );
  assertEquals(gc.code, 0, gc.stdout + gc.stderr);
  assertEquals(await count(), 1);
  assert((await natRules(w.host)).some((l) => l.includes('id: \\"ctr1\\"')));
});

Deno.test("portmap needs a prevResult, echoes it without mappings, rejects bad ports", async () => {
  await using w = await world();
  const none = await cniRun(
    w.host,
    pm(w, "ADD", { cniVersion: "1.0.0", name: "mynet", type: "portmap" }),
  );
  assertEquals(none.code, 1);
  assertMatch(JSON.parse(none.stdout).msg, /must be called as chained plugin/);
  const echo = okJson(
    await cniRun(w.host, pm(w, "ADD", pmConf(w.prev, { runtimeConfig: {} }))),
  );
  assertEquals(echo, w.prev);
  const bad = await cniRun(
    w.host,
    pm(
      w,
      "ADD",
      pmConf(w.prev, {
        runtimeConfig: {
          portMappings: [{
            hostPort: 70000,
            containerPort: 80,
            protocol: "tcp",
          }],
        },
      }),
    ),
  );
  assertEquals(bad.code, 1);
  assertEquals(JSON.parse(bad.stdout).code, 7);
  assertEquals(
    (await natRules(w.host)).filter((l) => l.includes("HOSTPORT")),
    [],
  );
});

Deno.test("portmap hairpin: a container reaches itself through its own host port (plugins#68)", async () => {
  await using w = await world("weft", { hairpinMode: true });
  okJson(await cniRun(w.host, pm(w, "ADD", pmConf(w.prev))));
  await using srv = await tcpServe(w.cont, "0.0.0.0", 80, "hairpin-ok");
  assertEquals(await tcpFetch(w.cont, "10.99.0.1", 8080), "hairpin-ok");
  await srv.done;
});

Deno.test("portmap dual-stack matches the reference (ip6tables rules, hostIP family filter, DEL)", async () => {
  const snap = async (impl: "weft" | "reference") => {
    await using h = await Netns.create(`pm6${impl[0]}`);
    await using c = await Netns.create(`pm6${impl[0]}c`);
    const dir = await Deno.makeTempDir({ prefix: "weft-t-portmap6-" });
    try {
      const br = {
        cniVersion: "1.0.0",
        name: "ds",
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: "10.22.0.0/24" }], [{ subnet: "fd00:22::/64" }]],
          dataDir: dir,
        },
      };
      const base = { impl, containerId: "x", netns: c.path, ifname: "eth0" };
      const prev = okJson<Res>(
        await cniRun(h, {
          ...base,
          plugin: "bridge",
          command: "ADD",
          config: br,
        }),
      );
      const conf = {
        cniVersion: "1.0.0",
        name: "ds",
        type: "portmap",
        runtimeConfig: {
          portMappings: [
            { hostPort: 8080, containerPort: 80, protocol: "tcp" },
            {
              hostPort: 8443,
              containerPort: 443,
              protocol: "tcp",
              hostIP: "fd00:99::1",
            },
          ],
        },
        prevResult: prev,
      };
      okJson(
        await cniRun(h, {
          ...base,
          plugin: "portmap",
          command: "ADD",
          config: conf,
        }),
      );
      const nat4 = await natRules(h);
      const nat6 = await natRules(h, true);
      const del = await cniRun(h, {
        ...base,
        plugin: "portmap",
        command: "DEL",
        config: conf,
      });
      const left = [...await natRules(h), ...await natRules(h, true)]
        .filter((l) => l.includes("CNI-DN"));
      return { nat4, nat6, del: del.code, left };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
  const ref = await snap("reference");
  const weft = await snap("weft");
  assert(
    ref.nat6.some((l) => l.includes("--to-destination [fd00:22::2]:443")),
    ref.nat6.join("\n"),
  );
  assertEquals(weft, ref);
  assertEquals(weft.left, []);
});

Deno.test("portmap conditionsV4 and externalSetMarkChain match the reference", async () => {
  const rules = async (impl: "weft" | "reference") => {
    await using w = await world(impl);
    await w.host.sh("iptables", "-t", "nat", "-N", "KUBE-MARK-MASQ");
    const conf = pmConf(w.prev, {
      conditionsV4: ["-s", "10.99.0.0/24"],
      externalSetMarkChain: "KUBE-MARK-MASQ",
    });
    okJson(await cniRun(w.host, pm(w, "ADD", conf, impl)));
    return await natRules(w.host);
  };
  const ref = await rules("reference");
  const weft = await rules("weft");
  assert(
    ref.some((l) =>
      l.includes("-s 10.99.0.0/24") && l.includes("--dports 8080")
    ),
    ref.join("\n"),
  );
  assert(!ref.some((l) => l.includes("CNI-HOSTPORT-SETMARK")));
  assertEquals(weft, ref);
});
