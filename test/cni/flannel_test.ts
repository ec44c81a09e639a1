// The flannel CNI plugin: subnet.env, the rendered delegate, the saved
// config's life cycle, in-process delegation to host-local and exec
// delegation to an operator's own plugin on CNI_PATH.

import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  buildDelegate,
  flannelConf,
  parseSubnetEnv,
} from "../../src/cni/flannel/mod.ts";
import { CniError, type NetConf } from "../../src/cni/mod.ts";
import { cniEnv, filesIn, json, runIn, scriptPlugin } from "./_helpers.ts";

type Conf = Record<string, unknown>;

const SUBNET_ENV = `FLANNEL_NETWORK=10.42.0.0/16
FLANNEL_SUBNET=10.42.7.1/24
FLANNEL_MTU=1450
FLANNEL_IPMASQ=true
`;

async function setup(
  delegate: Conf = { type: "host-local" },
  env = SUBNET_ENV,
) {
  const dir = await Deno.makeTempDir({ prefix: "weft-flannel-" });
  Deno.writeTextFileSync(`${dir}/subnet.env`, env);
  Deno.mkdirSync(`${dir}/bin`);
  Deno.mkdirSync(`${dir}/log`);
  const conf: Conf = {
    cniVersion: "1.1.0",
    name: "cbr0",
    type: "flannel",
    subnetFile: `${dir}/subnet.env`,
    dataDir: `${dir}/flannel`,
    ipam: { dataDir: `${dir}/ipam` },
    delegate,
  };
  return {
    dir,
    conf,
    env: (verb: string, cid = "c1") => ({
      ...cniEnv(verb, { cid, netns: "/x", path: `${dir}/bin` }),
      PATH: "/usr/bin:/bin",
    }),
    ipFiles: () =>
      filesIn(`${dir}/ipam/cbr0`).filter((n) =>
        n !== "lock" && !n.startsWith("last_")
      ),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("parseSubnetEnv() reads networks, reduces subnets, FLANNEL_IPMASQ only for 'true'", () => {
  const env = parseSubnetEnv(
    "FLANNEL_NETWORK=10.42.0.0/16,10.50.0.0/16\nFLANNEL_SUBNET=10.42.1.1/24\n" +
      "FLANNEL_IPV6_NETWORK=fd42::/56\nFLANNEL_IPV6_SUBNET=fd42:0:0:1::1/64\n" +
      "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=TRUE\n",
    "x",
  );
  assertEquals(env.networks.map(String), ["10.42.0.0/16", "10.50.0.0/16"]);
  assertEquals(String(env.subnet), "10.42.1.0/24");
  assertEquals(String(env.ip6Subnet), "fd42:0:0:1::/64");
  assertEquals(env.mtu, 1450);
  assertEquals(env.ipMasq, false);
});

Deno.test("parseSubnetEnv() names every missing key", () => {
  assertThrows(
    () =>
      parseSubnetEnv(
        "FLANNEL_SUBNET=10.42.1.1/24\n",
        "/run/flannel/subnet.env",
      ),
    CniError,
    "failed to load flannel 'subnet.env' file: /run/flannel/subnet.env is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_MTU, FLANNEL_IPMASQ",
  );
  assertThrows(
    () => parseSubnetEnv(SUBNET_ENV.replace("10.42.7.1/24", "10.42.7.1"), "f"),
    CniError,
    "invalid FLANNEL_SUBNET",
  );
});

Deno.test("buildDelegate() renders K3s's delegate as flannel does", () => {
  const config = {
    cniVersion: "1.0.0",
    name: "cbr0",
    type: "flannel",
    delegate: { hairpinMode: true, forceAddress: true, isDefaultGateway: true },
    ipam: { routes: [{ dst: "192.168.0.0/16" }] },
    runtimeConfig: { portMappings: [] },
  } as unknown as NetConf;
  const env = parseSubnetEnv(
    SUBNET_ENV +
      "FLANNEL_IPV6_NETWORK=fd42::/56\nFLANNEL_IPV6_SUBNET=fd42:0:0:7::1/64\n",
    "f",
  );
  assertEquals(buildDelegate(config, flannelConf(config), env), {
    hairpinMode: true,
    forceAddress: true,
    isDefaultGateway: true,
    name: "cbr0",
    type: "bridge",
    ipMasq: false,
    mtu: 1450,
    isGateway: true,
    cniVersion: "1.0.0",
    runtimeConfig: { portMappings: [] },
    ipam: {
      type: "host-local",
      ranges: [[{ subnet: "10.42.7.0/24" }], [{ subnet: "fd42:0:0:7::/64" }]],
      routes: [{ dst: "192.168.0.0/16" }, { dst: "10.42.0.0/16" }, {
        dst: "fd42::/56",
      }],
    },
  });
});

Deno.test("buildDelegate() keeps the delegate's own type, ipMasq and mtu", () => {
  const config = {
    cniVersion: "1.0.0",
    name: "n",
    type: "flannel",
    delegate: { type: "macvlan", ipMasq: true, mtu: 1400 },
  } as NetConf;
  const d = buildDelegate(
    config,
    flannelConf(config),
    parseSubnetEnv(SUBNET_ENV, "f"),
  );
  assertEquals([d.type, d.ipMasq, d.mtu, d.isGateway], [
    "macvlan",
    true,
    1400,
    undefined,
  ]);
});

Deno.test("flannel: a delegate with 'name' or 'ipam' is code 7", async () => {
  for (const bad of [{ name: "x" }, { ipam: { type: "host-local" } }]) {
    await using s = await setup(bad);
    const r = await runIn("flannel", s.env("ADD"), s.conf);
    assertEquals(r.code, 1);
    assertEquals(json(r).code, 7);
    assertEquals(filesIn(`${s.dir}/flannel`), []);
  }
});

Deno.test("flannel: ADD delegates in process to host-local and saves the delegate config 0600 in a 0700 dir", async () => {
  await using s = await setup();
  const r = await runIn("flannel", s.env("ADD"), s.conf);
  assertEquals(r.code, 0, r.stdout);
  assertEquals(json(r), {
    cniVersion: "1.1.0",
    ips: [{ address: "10.42.7.2/24", gateway: "10.42.7.1" }],
    routes: [{ dst: "10.42.0.0/16" }],
    dns: {},
  });
  const saved = `${s.dir}/flannel/c1`;
  assertEquals(Deno.statSync(`${s.dir}/flannel`).mode! & 0o777, 0o700);
  assertEquals(Deno.statSync(saved).mode! & 0o777, 0o600);
  const conf = JSON.parse(Deno.readTextFileSync(saved));
  assertEquals(conf.type, "host-local");
  assertEquals(conf.ipam.ranges, [[{ subnet: "10.42.7.0/24" }]]);
});

Deno.test("flannel: a missing subnet.env fails ADD with flannel's message and saves nothing", async () => {
  await using s = await setup();
  Deno.removeSync(`${s.dir}/subnet.env`);
  const r = await runIn("flannel", s.env("ADD"), s.conf);
  assertEquals(r.code, 1);
  assertMatch(String(json(r).msg), /failed to load flannel 'subnet.env' file/);
  assertEquals(filesIn(`${s.dir}/flannel`), []);
});

Deno.test("flannel: exec delegation to a plugin on CNI_PATH, with the config saved before it runs", async () => {
  await using s = await setup({ type: "myplug", extra: 7 });
  await scriptPlugin(
    `${s.dir}/bin`,
    "myplug",
    `cat > ${s.dir}/log/stdin.$CNI_COMMAND
env | grep ^CNI_ | sort > ${s.dir}/log/env.$CNI_COMMAND
[ -f ${s.dir}/flannel/$CNI_CONTAINERID ] && echo yes > ${s.dir}/log/saved.$CNI_COMMAND
[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.1.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.42.7.99/24","interface":0}]}'
exit 0`,
  );
  const r = await runIn("flannel", s.env("ADD", "ctr9"), s.conf);
  assertEquals(r.code, 0, r.stdout);
  assertEquals(json<{ ips: unknown[] }>(r).ips, [{
    address: "10.42.7.99/24",
    interface: 0,
  }]);
  assertEquals(Deno.readTextFileSync(`${s.dir}/log/saved.ADD`), "yes\n");
  const stdin = JSON.parse(Deno.readTextFileSync(`${s.dir}/log/stdin.ADD`));
  assertEquals([stdin.name, stdin.type, stdin.extra, stdin.mtu], [
    "cbr0",
    "myplug",
    7,
    1450,
  ]);
  const env = Deno.readTextFileSync(`${s.dir}/log/env.ADD`);
  for (
    const line of [
      "CNI_COMMAND=ADD",
      "CNI_CONTAINERID=ctr9",
      "CNI_IFNAME=eth0",
      "CNI_NETNS=/x",
      `CNI_PATH=${s.dir}/bin`,
    ]
  ) assert(env.includes(line), env);

  const del = await runIn("flannel", s.env("DEL", "ctr9"), s.conf);
  assertEquals(del.code, 0, del.stdout);
  assert(
    Deno.readTextFileSync(`${s.dir}/log/env.DEL`).includes("CNI_COMMAND=DEL"),
  );
  assertEquals(filesIn(`${s.dir}/flannel`), []);
});

Deno.test("flannel: a failed delegate ADD removes the saved config (plugins#426) and keeps the delegate's code", async () => {
  await using s = await setup({ type: "failplug" });
  await scriptPlugin(
    `${s.dir}/bin`,
    "failplug",
    `echo '{"cniVersion":"1.1.0","code":11,"msg":"busy, try later"}'; exit 1`,
  );
  const r = await runIn("flannel", s.env("ADD"), s.conf);
  assertEquals(r.code, 1);
  const e = json(r);
  assertEquals(e.code, 11);
  assertMatch(String(e.msg), /failed to delegate add: busy, try later/);
  assertEquals(filesIn(`${s.dir}/flannel`), []);
});

Deno.test("flannel: a delegate type found nowhere fails ADD and leaves no saved config", async () => {
  await using s = await setup({ type: "nosuchplugin" });
  const r = await runIn("flannel", s.env("ADD"), s.conf);
  assertEquals(r.code, 1);
  assertMatch(String(json(r).msg), /failed to find plugin "nosuchplugin"/);
  assertEquals(filesIn(`${s.dir}/flannel`), []);
});

Deno.test("flannel: DEL with the saved config releases the IP and removes the file", async () => {
  await using s = await setup();
  assertEquals((await runIn("flannel", s.env("ADD"), s.conf)).code, 0);
  assertEquals(s.ipFiles(), ["10.42.7.2"]);
  const r = await runIn("flannel", s.env("DEL"), s.conf);
  assertEquals(r.code, 0, r.stdout);
  assertEquals(s.ipFiles(), []);
  assertEquals(filesIn(`${s.dir}/flannel`), []);
  assertEquals(
    (await runIn("flannel", s.env("DEL"), s.conf)).code,
    0,
    "repeated DEL",
  );
});

Deno.test("flannel: DEL without a saved file re-renders the delegate from subnet.env so host-local still releases the IP", async () => {
  await using s = await setup();
  assertEquals((await runIn("flannel", s.env("ADD"), s.conf)).code, 0);
  Deno.removeSync(`${s.dir}/flannel/c1`);
  const r = await runIn("flannel", s.env("DEL"), s.conf);
  assertEquals(r.code, 0, r.stdout);
  assertEquals(s.ipFiles(), [], "the IP is released, unlike upstream");
});

Deno.test("flannel: DEL with neither saved file nor subnet.env succeeds and says why", async () => {
  await using s = await setup();
  Deno.removeSync(`${s.dir}/subnet.env`);
  const r = await runIn("flannel", s.env("DEL"), s.conf);
  assertEquals(r.code, 0, r.stdout);
  assertMatch(r.stderr, /no saved config .* nothing to release/);
});

Deno.test("flannel: DEL with an unparsable saved file logs and succeeds (flannel#1662)", async () => {
  await using s = await setup();
  Deno.mkdirSync(`${s.dir}/flannel`, { mode: 0o700 });
  Deno.writeTextFileSync(`${s.dir}/flannel/c1`, "{not json");
  const r = await runIn("flannel", s.env("DEL"), s.conf);
  assertEquals(r.code, 0, r.stdout);
  assertMatch(r.stderr, /unparsable saved config/);
  assertEquals(filesIn(`${s.dir}/flannel`), []);
});

Deno.test("flannel: DEL with a saved file torn by a crash (empty) re-renders the delegate and releases the IP", async () => {
  await using s = await setup();
  assertEquals((await runIn("flannel", s.env("ADD"), s.conf)).code, 0);
  assertEquals(s.ipFiles().length, 1);
  Deno.writeTextFileSync(`${s.dir}/flannel/c1`, "");
  const r = await runIn("flannel", s.env("DEL"), s.conf);
  assertEquals(r.code, 0, r.stdout);
  assertMatch(r.stderr, /unparsable saved config/);
  assertEquals(s.ipFiles(), [], "the IP is released");
  assertEquals(filesIn(`${s.dir}/flannel`), []);
});

Deno.test("flannel: CHECK delegates with the saved config; fails without it", async () => {
  await using s = await setup();
  const add = await runIn("flannel", s.env("ADD"), s.conf);
  const prevResult = json(add);
  const ok = await runIn("flannel", s.env("CHECK"), { ...s.conf, prevResult });
  assertEquals(ok.code, 0, ok.stdout);
  const none = await runIn("flannel", s.env("CHECK", "other"), {
    ...s.conf,
    prevResult,
  });
  assertEquals(none.code, 1);
  assertMatch(String(json(none).msg), /no saved config for container other/);
});

Deno.test("flannel: GC drops saved configs and IPs of containers not in the valid list", async () => {
  await using s = await setup();
  for (const cid of ["keep", "gone"]) {
    assertEquals((await runIn("flannel", s.env("ADD", cid), s.conf)).code, 0);
  }
  const r = await runIn("flannel", s.env("GC"), {
    ...s.conf,
    "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }],
  });
  assertEquals(r.code, 0, r.stdout);
  assertEquals(filesIn(`${s.dir}/flannel`), ["keep"]);
  assertEquals(s.ipFiles(), ["10.42.7.2"]);
});

Deno.test("flannel: STATUS is ready with subnet.env and code 50 without", async () => {
  await using s = await setup();
  assertEquals((await runIn("flannel", s.env("STATUS"), s.conf)).code, 0);
  Deno.removeSync(`${s.dir}/subnet.env`);
  const r = await runIn("flannel", s.env("STATUS"), s.conf);
  assertEquals(r.code, 1);
  assertEquals(json(r).code, 50);
});

Deno.test("flannel: every spec version gets its own result shape, and CHECK reads a prevResult of that shape", async () => {
  await using s = await setup();
  const versions = [
    "0.1.0",
    "0.2.0",
    "0.3.0",
    "0.3.1",
    "0.4.0",
    "1.0.0",
    "1.1.0",
  ];
  for (const [i, v] of versions.entries()) {
    const conf = { ...s.conf, cniVersion: v };
    const cid = `v${i}`;
    const add = await runIn("flannel", s.env("ADD", cid), conf);
    assertEquals(add.code, 0, add.stdout);
    const out = json(add);
    const ip = `10.42.7.${i + 2}/24`;
    if (v < "0.3.0") {
      assertEquals(out.ip4, {
        ip,
        gateway: "10.42.7.1",
        routes: [{ dst: "10.42.0.0/16" }],
      });
    } else {
      const first = (out.ips as Conf[])[0];
      assertEquals(first.address, ip);
      assertEquals(first.version, v < "1.0.0" ? "4" : undefined, v);
    }
    if (v >= "0.4.0") {
      const check = await runIn("flannel", s.env("CHECK", cid), {
        ...conf,
        prevResult: out,
      });
      assertEquals(check.code, 0, check.stdout);
    }
    const del = await runIn("flannel", s.env("DEL", cid), conf);
    assertEquals(del.code, 0, del.stdout);
  }
  assertEquals(s.ipFiles(), []);
});

Deno.test("flannel: DEL without a saved file releases the IP even after the node's subnet changed", async () => {
  await using s = await setup();
  assertEquals((await runIn("flannel", s.env("ADD"), s.conf)).code, 0);
  Deno.removeSync(`${s.dir}/flannel/c1`);
  Deno.writeTextFileSync(
    `${s.dir}/subnet.env`,
    SUBNET_ENV.replace("10.42.7.1/24", "10.42.9.1/24"),
  );
  assertEquals((await runIn("flannel", s.env("DEL"), s.conf)).code, 0);
  assertEquals(
    s.ipFiles(),
    [],
    "host-local releases by owner, whatever the ranges",
  );
});

Deno.test("flannel: bad input (JSON, version, name, ifname, netns) is the error JSON and leaves no state", async () => {
  await using s = await setup();
  const { name: _n, ...noName } = s.conf;
  const cases: [Record<string, string>, unknown, number][] = [
    [s.env("ADD"), "{nope", 6],
    [s.env("ADD"), { ...s.conf, cniVersion: "2.0.0" }, 1],
    [s.env("ADD"), noName, 7],
    [{ ...s.env("ADD"), CNI_IFNAME: "much-too-long-ifname" }, s.conf, 4],
    [{ ...s.env("ADD"), CNI_NETNS: "" }, s.conf, 4],
  ];
  for (const [env, stdin, code] of cases) {
    const r = await runIn("flannel", env, stdin);
    assertEquals(r.code, 1, r.stdout);
    assertEquals(json(r).code, code, r.stdout);
  }
  assertEquals(filesIn(s.dir), ["bin", "log", "subnet.env"]);
});

Deno.test("flannel capabilities: bad runtime portMappings or options are code 7; DEL still releases the IP; an undeclared capability is ignored", async () => {
  await using s = await setup();
  const caps = { portMappings: true, bandwidth: true };
  const cases: [Conf, string][] = [
    [
      {
        capabilities: caps,
        runtimeConfig: {
          portMappings: [{ hostPort: 70000, containerPort: 80 }],
        },
      },
      "Invalid host port number: 70000",
    ],
    [
      { capabilities: caps, runtimeConfig: { portMappings: "8080:80" } },
      `"portMappings" must be a list`,
    ],
    [
      {
        capabilities: caps,
        portmap: "yes",
        runtimeConfig: {
          portMappings: [{ hostPort: 8080, containerPort: 80 }],
        },
      },
      `"portmap" must be an object`,
    ],
    [
      {
        capabilities: caps,
        runtimeConfig: { bandwidth: { ingressRate: -1 } },
      },
      `"ingressRate" must be a non-negative integer`,
    ],
  ];
  for (const [extra, msg] of cases) {
    const conf = { ...s.conf, ...extra };
    const r = await runIn("flannel", s.env("ADD"), conf);
    assertEquals(r.code, 1, msg);
    assertEquals(json(r).code, 7, r.stdout);
    assertMatch(
      String(json(r).msg),
      new RegExp(msg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")),
    );
    // The runtime's DEL after the failed ADD frees the address even when
    // the capability input is still refused.
    await runIn("flannel", s.env("DEL"), conf);
    assertEquals(s.ipFiles(), [], msg);
  }
  const undeclared = {
    ...s.conf,
    runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80 }] },
  };
  const ok = await runIn("flannel", s.env("ADD"), undeclared);
  assertEquals(ok.code, 0, ok.stdout);
  assertEquals((await runIn("flannel", s.env("DEL"), undeclared)).code, 0);
});
