// The bridge plugin, run as a process inside a test "host" namespace, with
// a second namespace as the container; results read back independently.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import {
  bridgeConf as sharedBridgeConf,
  type CniCall,
  cniRun,
  ipv4Addrs,
  natRules,
  netSnapshot,
  nftTable,
  okJson,
  pings,
  settled,
  tcpFetch,
  tcpServe,
  veths,
} from "../harness/cni_ns.ts";
import { ipFiles } from "./_helpers.ts";

interface Res {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: {
    address: string;
    gateway?: string;
    interface?: number;
    version?: string;
  }[];
  ip4?: { ip: string; gateway?: string };
  routes?: { dst: string; gw?: string }[];
}

/** The shared bridge config with masquerading on. */
function bridgeConf(dataDir: string, extra: Record<string, unknown> = {}) {
  return sharedBridgeConf(dataDir, { ipMasq: true, ...extra });
}

function call(
  c: Netns,
  command: string,
  config: unknown,
  over: Partial<CniCall> = {},
): CniCall {
  return {
    impl: "weft",
    plugin: "bridge",
    command,
    containerId: "ctr1",
    netns: c.path,
    ifname: "eth0",
    config,
    ...over,
  };
}

async function tmp(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "weft-t-bridge-" });
}

/** Host and container namespaces and a temp dir for host-local, all removed after. */
interface Sandbox extends AsyncDisposable {
  h: Netns;
  c: Netns;
  dir: string;
}

async function sandbox(hostTag: string, contTag: string): Promise<Sandbox> {
  const h = await Netns.create(hostTag);
  const c = await Netns.create(contTag);
  const dir = await tmp();
  return {
    h,
    c,
    dir,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
      await c[Symbol.asyncDispose]();
      await h[Symbol.asyncDispose]();
    },
  };
}

/** The nat rules and chains bridge's masquerading made (CNI-...). */
async function masqRules(h: Netns): Promise<string[]> {
  return (await natRules(h)).filter((l) => l.includes("CNI-"));
}

Deno.test("bridge ADD builds bridge, veth, addresses, masquerade; DEL removes them", async () => {
  await using box = await sandbox("brh", "brc");
  const { h, c, dir } = box;
  const conf = bridgeConf(dir, { isDefaultGateway: true });
  const res = okJson<Res>(await cniRun(h, call(c, "ADD", conf)));
  assertEquals(
    res.interfaces?.map((i) => i.name.replace(/^veth[0-9a-f]{8}$/, "veth*")),
    [
      "cni0",
      "veth*",
      "eth0",
    ],
  );
  assertEquals(res.interfaces?.[2].sandbox, c.path);
  assertEquals(res.ips, [{
    address: "10.22.0.2/24",
    gateway: "10.22.0.1",
    interface: 2,
  }]);
  assertEquals(res.routes, [{ dst: "0.0.0.0/0", gw: "10.22.0.1" }]);

  const hostLinks = await h.json<
    {
      ifname: string;
      master?: string;
      linkinfo?: { info_kind: string };
      operstate: string;
    }[]
  >(
    "ip",
    "-j",
    "-d",
    "link",
    "show",
  );
  const br = hostLinks.find((l) => l.ifname === "cni0");
  assertEquals(br?.linkinfo?.info_kind, "bridge");
  const veth = hostLinks.find((l) => l.ifname === res.interfaces![1].name);
  assertEquals(veth?.master, "cni0");
  assertEquals(veth?.operstate, "UP");
  const cont = await c.json<
    { ifname: string; address: string; linkinfo?: { info_kind: string } }[]
  >(
    "ip",
    "-j",
    "-d",
    "link",
    "show",
    "eth0",
  );
  assertEquals(cont[0].linkinfo?.info_kind, "veth");
  assertEquals(cont[0].address, res.interfaces![2].mac);
  assertEquals(await ipv4Addrs(c, "eth0"), ["10.22.0.2/24"]);
  const croutes = await c.json<{ dst: string; gateway?: string }[]>(
    "ip",
    "-j",
    "route",
  );
  assert(
    croutes.some((r) => r.dst === "default" && r.gateway === "10.22.0.1"),
  );
  assertEquals(await ipv4Addrs(h, "cni0"), ["10.22.0.1/24"]);
  assertEquals(
    (await h.sh("sysctl", "-n", "net.ipv4.ip_forward")).trim(),
    "1",
  );
  assertEquals(
    (await c.sh("sysctl", "-n", "net.ipv4.conf.eth0.arp_notify")).trim(),
    "1",
  );

  const nat = (await natRules(h)).join("\n");
  const chain = /:(CNI-[0-9a-f]{24}) /.exec(nat)?.[1];
  assert(chain, nat);
  const cm = '-m comment --comment "name: \\"mynet\\" id: \\"ctr1\\""';
  assert(
    nat.includes(`-A POSTROUTING -s 10.22.0.2/32 ${cm} -j ${chain}`),
    nat,
  );
  assert(nat.includes(`-A ${chain} -d 10.22.0.0/24 ${cm} -j ACCEPT`), nat);
  assert(
    nat.includes(`-A ${chain} ! -d 224.0.0.0/4 ${cm} -j MASQUERADE`),
    nat,
  );

  // traffic: the container reaches a server on the bridge gateway
  {
    await using srv = await tcpServe(
      h,
      "10.22.0.1",
      18080,
      "hello-from-host",
    );
    assertEquals(await tcpFetch(c, "10.22.0.1", 18080), "hello-from-host");
    await srv.done;
  }
  // and ICMP both ways between the container and the gateway
  assert(await pings(c, "10.22.0.1"), "container -> gateway ping");
  assert(await pings(h, "10.22.0.2"), "host -> container ping");

  const check = await cniRun(
    h,
    call(c, "CHECK", { ...conf, prevResult: res }),
  );
  assertEquals(check.code, 0, check.stdout);

  const del = await cniRun(h, call(c, "DEL", { ...conf, prevResult: res }));
  assertEquals(del.code, 0, del.stdout + del.stderr);
  assertEquals(await veths(c), []);
  assertEquals(await masqRules(h), []);
  assertEquals(
    ipFiles(`${dir}/mynet`),
    [],
  );
  // the bridge stays
  assertEquals(
    (await h.json<unknown[]>("ip", "-j", "link", "show", "cni0")).length,
    1,
  );
  // a second DEL is fine
  assertEquals((await cniRun(h, call(c, "DEL", conf))).code, 0);
});

Deno.test("bridge results follow the config's spec version", async () => {
  await using h = await Netns.create("brvh");
  const dir = await tmp();
  try {
    for (
      const [i, v] of ["0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"].entries()
    ) {
      await using c = await Netns.create("brvc");
      const conf = bridgeConf(dir, { cniVersion: v });
      const res = okJson<Res>(
        await cniRun(h, call(c, "ADD", conf, { containerId: `v${i}` })),
      );
      assertEquals(res.cniVersion, v);
      const want = `10.22.0.${i + 2}`;
      if (v === "0.2.0") {
        assertEquals(res.ip4?.ip, `${want}/24`);
        assertEquals(res.interfaces, undefined);
      } else {
        assertEquals(res.ips?.[0].address, `${want}/24`);
        assertEquals(
          res.ips?.[0].version,
          v.startsWith("0.") ? "4" : undefined,
        );
        assertEquals(res.interfaces?.length, 3);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bridge matches the reference plugin: links, addresses, routes, nat rules", async () => {
  const snap = async (impl: "weft" | "reference") => {
    await using box = await sandbox(`brd${impl[0]}`, `brd${impl[0]}c`);
    const { h, c, dir } = box;
    const conf = bridgeConf(dir, {
      isDefaultGateway: true,
      mtu: 1400,
      hairpinMode: true,
    });
    const res = okJson<Res>(await cniRun(h, call(c, "ADD", conf, { impl })));
    const hairpin = await h.json<{ ifname: string; hairpin?: boolean }[]>(
      "bridge",
      "-j",
      "-d",
      "link",
      "show",
    );
    return {
      host: await netSnapshot(h),
      container: await netSnapshot(c),
      nat: await natRules(h),
      hairpin: hairpin.map((l) => l.hairpin),
      ips: res.ips,
      routes: res.routes,
      forward: (await h.sh("sysctl", "-n", "net.ipv4.ip_forward")).trim(),
    };
  };
  const ref = await snap("reference");
  const weft = await snap("weft");
  // the picture is not empty: a masquerade chain, a hairpin port, a default route
  assert(
    ref.nat.some((l) => /^:CNI-[0-9a-f]{24} /.test(l)),
    ref.nat.join("\n"),
  );
  assert(ref.hairpin.includes(true));
  assert(JSON.stringify(ref.container).includes("default via 10.22.0.1"));
  assertEquals(weft, ref);
});

Deno.test("bridge DEL with an empty CNI_NETNS still removes masquerade rules and the IP (plugins#810)", async () => {
  await using box = await sandbox("br810h", "br810c");
  const { h, c, dir } = box;
  const conf = bridgeConf(dir);
  okJson(await cniRun(h, call(c, "ADD", conf)));
  assert((await natRules(h)).some((l) => l.includes("CNI-")));
  const del = await cniRun(h, call(c, "DEL", conf, { netns: "" }));
  assertEquals(del.code, 0, del.stdout + del.stderr);
  assertEquals(await masqRules(h), []);
  assertEquals(
    ipFiles(`${dir}/mynet`),
    [],
  );
});

Deno.test("bridge ipMasq with the nftables backend, and GC of stale attachments", async () => {
  await using h = await Netns.create("brnh");
  await using c1 = await Netns.create("brn1");
  await using c2 = await Netns.create("brn2");
  const dir = await tmp();
  try {
    const conf = bridgeConf(dir, { ipMasqBackend: "nftables" });
    okJson(await cniRun(h, call(c1, "ADD", conf, { containerId: "keep" })));
    okJson(await cniRun(h, call(c2, "ADD", conf, { containerId: "stale" })));
    const rules = async () => {
      const doc = await nftTable(h, "inet", "cni_plugins_masquerade");
      return doc.filter((o) => o.rule && o.rule.chain === "masq_checks")
        .map((o) => String(o.rule.comment));
    };
    const before = await rules();
    assertEquals(before.length, 2);
    assertMatch(
      before[0],
      /^[0-9a-f]{16}-[0-9a-f]{16}, net: mynet, if: eth0, id: keep$/,
    );
    assertEquals(await masqRules(h), []);
    const gc = await cniRun(
      h,
      call(c1, "GC", {
        ...conf,
        cniVersion: "1.1.0",
        "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }],
      }),
    );
    assertEquals(gc.code, 0, gc.stdout + gc.stderr);
    const after = await rules();
    assertEquals(after.length, 1);
    assert(after[0].endsWith("id: keep"));
    // host-local released the stale container's address
    assertEquals(ipFiles(`${dir}/mynet`), ["10.22.0.2"]);
    assertEquals(
      (await cniRun(h, call(c1, "DEL", conf, { containerId: "keep" }))).code,
      0,
    );
    assertEquals(await rules(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bridge iptables GC removes masquerade chains of containers not listed", async () => {
  await using h = await Netns.create("brgh");
  await using c1 = await Netns.create("brg1");
  await using c2 = await Netns.create("brg2");
  const dir = await tmp();
  try {
    const conf = bridgeConf(dir);
    okJson(await cniRun(h, call(c1, "ADD", conf, { containerId: "keep" })));
    okJson(await cniRun(h, call(c2, "ADD", conf, { containerId: "stale" })));
    const chains = async () =>
      (await natRules(h)).filter((l) => /^:CNI-/.test(l)).length;
    assertEquals(await chains(), 2);
    const gc = await cniRun(
      h,
      call(c1, "GC", {
        ...conf,
        cniVersion: "1.1.0",
        "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }],
      }),
    );
    assertEquals(gc.code, 0, gc.stdout + gc.stderr);
    assertEquals(await chains(), 1);
    assert((await natRules(h)).some((l) => l.includes('id: \\"keep\\"')));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bridge rejects bad input with error JSON, exit 1 and no changes", async () => {
  await using box = await sandbox("brbh", "brbc");
  const { h, c, dir } = box;
  const cases: [string, CniCall, number | null][] = [
    ["vlan out of range", call(c, "ADD", bridgeConf(dir, { vlan: 5000 })), 7],
    [
      "hairpin with promisc",
      call(
        c,
        "ADD",
        bridgeConf(dir, { hairpinMode: true, promiscMode: true }),
      ),
      7,
    ],
    [
      "ifname too long",
      call(c, "ADD", bridgeConf(dir), { ifname: "a-very-long-ifname0" }),
      null,
    ],
    [
      "missing netns",
      call(c, "ADD", bridgeConf(dir), {
        netns: "/run/netns/weft-t-does-not-exist",
      }),
      null,
    ],
    ["not JSON", call(c, "ADD", "{not json"), null],
  ];
  for (const [what, cl, code] of cases) {
    const r = await cniRun(h, cl);
    assertEquals(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
    const err = JSON.parse(r.stdout);
    assert(typeof err.msg === "string" && err.msg.length > 0, what);
    if (code !== null) assertEquals(err.code, code, what);
    assertEquals(
      await veths(h),
      [],
      what,
    );
    assertEquals(
      await veths(c),
      [],
      what,
    );
    assertEquals(
      await masqRules(h),
      [],
      what,
    );
  }
  // validation runs before anything is created: no bridge either
  assertEquals(
    await h.json("ip", "-j", "link", "show", "type", "bridge"),
    [],
  );
});

Deno.test("bridge refuses an existing non-bridge device and a foreign bridge address without forceAddress", async () => {
  await using box = await sandbox("brxh", "brxc");
  const { h, c, dir } = box;
  await h.sh(
    "ip",
    "link",
    "add",
    "cni0",
    "type",
    "veth",
    "peer",
    "name",
    "x0",
  );
  const r = await cniRun(h, call(c, "ADD", bridgeConf(dir)));
  assertEquals(r.code, 1);
  assertMatch(
    JSON.parse(r.stdout).msg,
    /"cni0" already exists but is not a bridge/,
  );
  await h.sh("ip", "link", "del", "cni0");
  await h.sh("ip", "link", "add", "cni0", "type", "bridge");
  await h.sh("ip", "addr", "add", "10.22.0.77/24", "dev", "cni0");
  const r2 = await cniRun(h, call(c, "ADD", bridgeConf(dir)));
  assertEquals(r2.code, 1);
  assertMatch(
    JSON.parse(r2.stdout).msg,
    /already has an IP address different from 10\.22\.0\.1\/24/,
  );
  // nothing left behind by the failed ADD: no veth, IP released
  assertEquals(await veths(c), []);
  assertEquals(
    ipFiles(`${dir}/mynet`),
    [],
  );
  const ok = await cniRun(
    h,
    call(c, "ADD", bridgeConf(dir, { forceAddress: true })),
  );
  assertEquals(ok.code, 0, ok.stdout);
  const baddr = await h.json<{ addr_info: { local: string }[] }[]>(
    "ip",
    "-j",
    "-4",
    "addr",
    "show",
    "cni0",
  );
  assertEquals(baddr[0].addr_info.map((a) => a.local), ["10.22.0.1"]);
});

Deno.test("bridge takes the container MAC from CNI_ARGS and runtimeConfig", async () => {
  await using box = await sandbox("brmh", "brmc");
  const { h, c, dir } = box;
  const res = okJson<Res>(
    await cniRun(
      h,
      call(
        c,
        "ADD",
        bridgeConf(dir, {
          runtimeConfig: { mac: "0a:58:0a:16:00:63" },
        }),
        { args: "MAC=0a:58:0a:16:00:42" },
      ),
    ),
  );
  assertEquals(res.interfaces?.[2].mac, "0a:58:0a:16:00:63");
  const link = await c.json<{ address: string }[]>(
    "ip",
    "-j",
    "link",
    "show",
    "eth0",
  );
  assertEquals(link[0].address, "0a:58:0a:16:00:63");
});

Deno.test("bridge dual-stack matches the reference: v4+v6 addresses, default routes, ip6tables masquerade", async () => {
  const snap = async (impl: "weft" | "reference") => {
    await using box = await sandbox(`brds${impl[0]}`, `brds${impl[0]}c`);
    const { h, c, dir } = box;
    const conf = bridgeConf(dir, {
      isDefaultGateway: true,
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: "10.22.0.0/24" }], [{ subnet: "fd00:22::/64" }]],
        dataDir: dir,
      },
    });
    const res = okJson<Res>(await cniRun(h, call(c, "ADD", conf, { impl })));
    return {
      ips: res.ips?.map((i) => [i.address, i.gateway, i.interface]),
      routes: res.routes,
      host: await netSnapshot(h),
      container: await netSnapshot(c),
      nat4: await natRules(h),
      nat6: await natRules(h, true),
      forward6: (await h.sh("sysctl", "-n", "net.ipv6.conf.all.forwarding"))
        .trim(),
    };
  };
  const ref = await snap("reference");
  const weft = await snap("weft");
  assert(
    ref.nat6.some((l) => l.includes("! -d ff00::/8")),
    ref.nat6.join("\n"),
  );
  assertEquals(weft, ref);
});

Deno.test("bridge vlan: tagged port when the kernel filters VLANs, a clean error when it cannot", async () => {
  await using box = await sandbox("brvl", "brvlc");
  const { h, c, dir } = box;
  await h.sh("ip", "link", "add", "probe0", "type", "bridge");
  const probe = await h.run([
    "ip",
    "link",
    "set",
    "probe0",
    "type",
    "bridge",
    "vlan_filtering",
    "1",
  ]);
  await h.sh("ip", "link", "del", "probe0");
  const r = await cniRun(h, call(c, "ADD", bridgeConf(dir, { vlan: 100 })));
  if (probe.code !== 0) {
    console.log(
      `kernel without bridge VLAN filtering (${probe.stderr.trim()}): checking the failure path only`,
    );
    assertEquals(r.code, 1);
    assertMatch(JSON.parse(r.stdout).msg, /vlan_filtering/);
    assertEquals(
      await veths(c),
      [],
    );
    return;
  }
  const res = okJson<Res>(r);
  const vlans = await h.json<
    { ifname: string; vlans: { vlan: number; flags?: string[] }[] }[]
  >(
    "bridge",
    "-j",
    "vlan",
    "show",
  );
  const port = vlans.find((v) => v.ifname === res.interfaces![1].name);
  const v100 = port?.vlans.find((v) => v.vlan === 100);
  assertEquals(v100?.flags?.sort(), ["Egress Untagged", "PVID"]);
});

Deno.test("bridge STATUS is forwarded to IPAM and succeeds", async () => {
  await using box = await sandbox("brst", "brstc");
  const { h, c, dir } = box;
  const r = await cniRun(
    h,
    call(c, "STATUS", bridgeConf(dir, { cniVersion: "1.1.0" })),
  );
  assertEquals(r.code, 0, r.stdout + r.stderr);
  assertEquals(r.stdout.trim(), "");
});

Deno.test("bridge portIsolation and promiscMode are applied to the port and the bridge", async () => {
  await using box = await sandbox("brpi", "brpic");
  const { h, c, dir } = box;
  const res = okJson<Res>(
    await cniRun(
      h,
      call(
        c,
        "ADD",
        bridgeConf(dir, { portIsolation: true, promiscMode: true }),
      ),
    ),
  );
  const ports = await h.json<{ ifname: string; isolated?: boolean }[]>(
    "bridge",
    "-j",
    "-d",
    "link",
    "show",
  );
  assertEquals(
    ports.find((p) => p.ifname === res.interfaces![1].name)?.isolated,
    true,
  );
  const br = await h.json<{ promiscuity: number }[]>(
    "ip",
    "-j",
    "-d",
    "link",
    "show",
    "cni0",
  );
  assert(br[0].promiscuity > 0);
});

Deno.test("bridge CHECK fails when the container lost an address or the veth left the bridge", async () => {
  await using box = await sandbox("brck", "brckc");
  const { h, c, dir } = box;
  const conf = bridgeConf(dir);
  const res = okJson<Res>(await cniRun(h, call(c, "ADD", conf)));
  assertEquals(
    (await cniRun(h, call(c, "CHECK", { ...conf, prevResult: res }))).code,
    0,
  );
  await h.sh("ip", "link", "set", res.interfaces![1].name, "nomaster");
  const r1 = await cniRun(h, call(c, "CHECK", { ...conf, prevResult: res }));
  assertEquals(r1.code, 1);
  assertMatch(JSON.parse(r1.stdout).msg, /not attached to "cni0"/);
  await h.sh("ip", "link", "set", res.interfaces![1].name, "master", "cni0");
  await c.sh("ip", "addr", "del", "10.22.0.2/24", "dev", "eth0");
  const r2 = await cniRun(h, call(c, "CHECK", { ...conf, prevResult: res }));
  assertEquals(r2.code, 1);
  assertMatch(
    JSON.parse(r2.stdout).msg,
    /address 10\.22\.0\.2\/24 not found/,
  );
});

Deno.test("bridge without ipam is layer 2 only (as the reference); disableContainerInterface leaves eth0 down", async () => {
  const l2 = async (
    impl: "weft" | "reference",
    extra: Record<string, unknown> = {},
  ) => {
    await using h = await Netns.create(`brl2${impl[0]}`);
    await using c = await Netns.create(`brl2${impl[0]}c`);
    const conf = {
      cniVersion: "1.0.0",
      name: "l2net",
      type: "bridge",
      bridge: "cni0",
      ...extra,
    };
    const res = okJson<Res>(await cniRun(h, call(c, "ADD", conf, { impl })));
    const link = await c.json<{ flags: string[] }[]>(
      "ip",
      "-j",
      "link",
      "show",
      "eth0",
    );
    return {
      ips: res.ips ?? [],
      names: res.interfaces?.map((i) =>
        i.name.replace(/^veth[0-9a-f]{8}$/, "veth*")
      ),
      up: link[0].flags.includes("UP"),
      addrs: (await netSnapshot(c)).addrs,
    };
  };
  const ref = await l2("reference");
  const weft = await l2("weft");
  assertEquals(weft, ref);
  assertEquals(weft.up, true);
  assertEquals(
    (await l2("weft", { disableContainerInterface: true })).up,
    false,
  );
});

Deno.test("bridge DEL after the container netns is gone releases the IP and the masquerade rules", async () => {
  await using h = await Netns.create("brgone");
  const c = await Netns.create("brgonec");
  const dir = await tmp();
  try {
    const conf = bridgeConf(dir);
    okJson(await cniRun(h, call(c, "ADD", conf)));
    const path = c.path;
    await c[Symbol.asyncDispose]();
    const del = await cniRun(h, call(c, "DEL", conf, { netns: path }));
    assertEquals(del.code, 0, del.stdout + del.stderr);
    assertEquals(
      ipFiles(`${dir}/mynet`),
      [],
    );
    assertEquals(await masqRules(h), []);
    // the veth dies with the namespace (once the kernel has torn it down)
    assertEquals(await settled(() => veths(h), (v) => v.length === 0), []);
  } finally {
    await c[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bridge macspoofchk drops frames with a foreign source MAC; DEL removes its chains", async () => {
  await using box = await sandbox("brsp", "brspc");
  const { h, c, dir } = box;
  const conf = bridgeConf(dir, { macspoofchk: true });
  const res = okJson<Res>(await cniRun(h, call(c, "ADD", conf)));
  const listed = await nftTable(h, "bridge", "nat");
  const chains = listed.filter((o) => o.chain).map((o) => o.chain.name)
    .sort();
  assertEquals(chains, [
    "PREROUTING",
    "cni-br-iface-ctr1-eth0",
    "cni-br-iface-ctr1-eth0-mac",
  ]);
  assertEquals(
    listed.filter((o) => o.rule).map((o) => o.rule.comment),
    Array(4).fill("macspoofchk-ctr1-eth0"),
  );
  assertEquals(
    (await cniRun(h, call(c, "CHECK", { ...conf, prevResult: res }))).code,
    0,
  );
  {
    await using srv = await tcpServe(h, "10.22.0.1", 18081, "own-mac");
    assertEquals(await tcpFetch(c, "10.22.0.1", 18081), "own-mac");
    await srv.done;
  }
  assert(await pings(c, "10.22.0.1"), "ping with the container's own MAC");
  await c.sh("ip", "link", "set", "eth0", "address", "0a:58:de:ad:be:ef");
  await c.sh("ip", "neigh", "flush", "all");
  {
    await using _srv = await tcpServe(h, "10.22.0.1", 18082, "spoofed");
    const r = await c.run([
      "timeout",
      "3",
      "bash",
      "-c",
      "exec 3<>/dev/tcp/10.22.0.1/18082; cat <&3",
    ]);
    assert(r.code !== 0, `a spoofed MAC got through: ${r.stdout}`);
  }
  assertEquals((await cniRun(h, call(c, "DEL", conf))).code, 0);
  const after = await nftTable(h, "bridge", "nat");
  assertEquals(after.filter((o) => o.rule), []);
  assertEquals(
    after.filter((o) => o.chain).map((o) => o.chain.name),
    ["PREROUTING"],
  );
});
