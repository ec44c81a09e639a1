import { assertEquals, assertThrows } from "@std/assert";
import {
  generateNetConf,
  loadNetConf,
  NetConfError,
  netConfPath,
  parseNetConf,
} from "../../src/flannel/mod.ts";

Deno.test("parseNetConf() fills flannel's defaults", () => {
  const c = parseNetConf(`{"Network":"10.42.0.0/16"}`);
  assertEquals(c.network?.toString(), "10.42.0.0/16");
  assertEquals(c.enableIPv4, true);
  assertEquals(c.enableIPv6, false);
  assertEquals(c.enableNFTables, false);
  assertEquals(c.subnetLen, 24);
  assertEquals(c.ipv6SubnetLen, 64);
  assertEquals(c.backend.type, "vxlan");
  assertEquals(c.backend.vni, 1);
  assertEquals(c.backend.port, 0);
  assertEquals(c.backend.mtu, 0);
  assertEquals(c.backend.directRouting, false);
  assertEquals(c.backend.learning, false);
  assertEquals(c.backend.gbp, false);
});

Deno.test("parseNetConf() SubnetLen defaults to prefix+2 above /22", () => {
  const table: [string, number][] = [
    ["10.0.0.0/8", 24],
    ["10.42.0.0/22", 24],
    ["10.42.0.0/23", 25],
    ["10.42.0.0/26", 28],
  ];
  for (const [net, len] of table) {
    assertEquals(parseNetConf(`{"Network":"${net}"}`).subnetLen, len, net);
  }
});

Deno.test("parseNetConf() reads keys case-insensitively, backend too", () => {
  const c = parseNetConf(
    `{"network":"10.1.0.0/16","ENABLENFTABLES":true,"backend":{"type":"VXLAN","vni":4,"port":4789,"directrouting":true,"mtu":1400}}`,
  );
  assertEquals(c.network?.toString(), "10.1.0.0/16");
  assertEquals(c.enableNFTables, true);
  assertEquals(c.backend.type, "vxlan");
  assertEquals(c.backend.vni, 4);
  assertEquals(c.backend.port, 4789);
  assertEquals(c.backend.directRouting, true);
  assertEquals(c.backend.mtu, 1400);
});

Deno.test("parseNetConf() errors name the offending key", () => {
  const table: [string, string][] = [
    [`{"Network":"10.42.0.0/33"}`, "Network"],
    [`{"Network":"nope"}`, "Network"],
    [`{}`, "Network"],
    [`{"Network":"10.42.0.0/16","EnableIPv4":"yes"}`, "EnableIPv4"],
    [`{"Network":"10.42.0.0/16","SubnetLen":8}`, "SubnetLen"],
    [`{"Network":"10.42.0.0/16","SubnetLen":31}`, "SubnetLen"],
    [`{"Network":"10.42.0.0/16","Backend":{"Type":"udp"}}`, "Backend.Type"],
    [`{"Network":"10.42.0.0/16","Backend":{"VNI":"1"}}`, "Backend.VNI"],
    [`{"Network":"10.42.0.0/16","Backend":{"Port":70000}}`, "Backend.Port"],
    [
      `{"Network":"10.42.0.0/16","Backend":{"DirectRouting":1}}`,
      "Backend.DirectRouting",
    ],
    [`{"Network":"10.42.0.0/16","EnableIPv6":true}`, "IPv6Network"],
    [`{"Network":"10.42.0.0/16","SubnetMin":"10.9.0.0"}`, "SubnetMin"],
    [`[1]`, "(file)"],
    [`{"Network":`, "(file)"],
  ];
  for (const [text, key] of table) {
    const e = assertThrows(() => parseNetConf(text), NetConfError);
    assertEquals((e as NetConfError).key, key, text);
  }
});

Deno.test("parseNetConf() accepts K3s's IPv6-only shape", () => {
  const c = parseNetConf(
    `{"Network":"0.0.0.0/0","EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"2001:cafe:42::/56","Backend":{"Type":"vxlan"}}`,
  );
  assertEquals(c.network, null);
  assertEquals(c.ipv6Network?.toString(), "2001:cafe:42::/56");
});

Deno.test("generateNetConf() writes K3s's file per backend", () => {
  const table: [string, unknown][] = [
    ["vxlan", { Type: "vxlan" }],
    ["host-gw", { Type: "host-gw" }],
    ["wireguard-native", {
      Type: "wireguard",
      PersistentKeepaliveInterval: 25,
    }],
  ];
  for (const [backend, want] of table) {
    const j = JSON.parse(generateNetConf({ backend }));
    assertEquals(j, {
      Network: "10.42.0.0/16",
      EnableIPv6: false,
      EnableIPv4: true,
      IPv6Network: "::/0",
      Backend: want,
    });
    parseNetConf(JSON.stringify(j));
  }
  const dual = JSON.parse(
    generateNetConf({ clusterCIDRs: ["10.42.0.0/16", "2001:cafe:42::/56"] }),
  );
  assertEquals(dual.IPv6Network, "2001:cafe:42::/56");
  assertEquals(dual.EnableIPv6, true);
  assertThrows(() => generateNetConf({ backend: "udp" }), TypeError, "udp");
  assertThrows(
    () => generateNetConf({ clusterCIDRs: ["10.0.0.0/8", "10.1.0.0/16"] }),
    TypeError,
  );
});

Deno.test("loadNetConf() writes under the data dir; --flannel-conf replaces it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const gen = await loadNetConf({ dataDir: dir, backend: "host-gw" });
    assertEquals(gen.path, netConfPath(dir));
    assertEquals(gen.path, `${dir}/agent/etc/flannel/net-conf.json`);
    assertEquals(gen.conf.backend.type, "host-gw");
    const own = `${dir}/mine.json`;
    await Deno.writeTextFile(
      own,
      `{"Network":"10.9.0.0/16","Backend":{"Type":"vxlan","VNI":7}}`,
    );
    const user = await loadNetConf({ dataDir: dir, flannelConf: own });
    assertEquals(user.path, own);
    assertEquals(user.conf.backend.vni, 7);
    assertEquals(user.conf.network?.toString(), "10.9.0.0/16");
    await Deno.writeTextFile(own, `{"Network":"10.9.0.0/16","SubnetLen":"x"}`);
    await assertRejectsKey(
      loadNetConf({ dataDir: dir, flannelConf: own }),
      "SubnetLen",
    );
    await assertRejectsKey(
      loadNetConf({ dataDir: dir, flannelConf: `${dir}/missing.json` }),
      "(file)",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function assertRejectsKey(p: Promise<unknown>, key: string) {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof NetConfError)) throw e;
    assertEquals(e.key, key);
    return;
  }
  throw new Error(`expected a NetConfError for ${key}`);
}
