// host-local against Debian's reference plugin (/usr/lib/cni/host-local) on
// one data dir: allocations made by one are seen, continued and released by
// the other, and the files are byte-identical in format.

import { assertEquals, assertMatch } from "@std/assert";
import {
  cniEnv,
  filesIn,
  json,
  REFERENCE_DIR,
  runIn,
  runReference,
} from "./_helpers.ts";

type Conf = Record<string, unknown>;

const haveReference = (() => {
  try {
    Deno.statSync(`${REFERENCE_DIR}/host-local`);
    return true;
  } catch {
    return false;
  }
})();
if (!haveReference) {
  console.log(
    `host-local differential tests skipped: ${REFERENCE_DIR}/host-local is missing (apt-get install containernetworking-plugins)`,
  );
}

async function setup(subnet: string) {
  const dir = await Deno.makeTempDir({ prefix: "weft-hldiff-" });
  const conf: Conf = {
    cniVersion: "0.4.0",
    name: "diffnet",
    type: "host-local",
    ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet }]] },
  };
  return {
    conf,
    net: `${dir}/diffnet`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

type Who = "weft" | "ref";

async function call(
  who: Who,
  verb: string,
  conf: Conf,
  cid: string,
  ifname = "eth0",
) {
  const env = cniEnv(verb, {
    cid,
    ifname,
    netns: "/run/netns/unused",
    path: REFERENCE_DIR,
  });
  return who === "weft"
    ? await runIn("host-local", env, conf)
    : await runReference("host-local", env, conf);
}

async function addIP(who: Who, conf: Conf, cid: string, ifname = "eth0") {
  const r = await call(who, "ADD", conf, cid, ifname);
  assertEquals(r.code, 0, `${who}: ${r.stdout}${r.stderr}`);
  return json<{ ips: { address: string }[] }>(r).ips[0].address;
}

function ipFiles(net: string): string[] {
  return filesIn(net).filter((n) => n !== "lock" && !n.startsWith("last_"));
}

Deno.test({
  name:
    "host-local differential: alternating allocations continue one round-robin sequence",
  ignore: !haveReference,
  fn: async () => {
    await using s = await setup("10.100.0.0/24");
    assertEquals(await addIP("weft", s.conf, "a"), "10.100.0.2/24");
    assertEquals(await addIP("ref", s.conf, "b"), "10.100.0.3/24");
    assertEquals(await addIP("weft", s.conf, "c"), "10.100.0.4/24");
    assertEquals(await addIP("ref", s.conf, "d"), "10.100.0.5/24");
    assertEquals(
      Deno.readTextFileSync(`${s.net}/last_reserved_ip.0`),
      "10.100.0.5",
    );
  },
});

Deno.test({
  name:
    "host-local differential: files written by weft and by the reference are byte-identical",
  ignore: !haveReference,
  fn: async () => {
    await using s = await setup("10.101.0.0/24");
    await addIP("weft", s.conf, "same-id", "net1");
    const weftBytes = Deno.readFileSync(`${s.net}/10.101.0.2`);
    const weftLast = Deno.readFileSync(`${s.net}/last_reserved_ip.0`);
    // 0600 as the current reference; Debian's older build (1.1.1) used 0644.
    assertEquals(Deno.statSync(`${s.net}/10.101.0.2`).mode! & 0o777, 0o600);
    await call("weft", "DEL", s.conf, "same-id", "net1");
    Deno.removeSync(`${s.net}/last_reserved_ip.0`);
    await addIP("ref", s.conf, "same-id", "net1");
    assertEquals(Deno.readFileSync(`${s.net}/10.101.0.2`), weftBytes);
    assertEquals(Deno.readFileSync(`${s.net}/last_reserved_ip.0`), weftLast);
  },
});

Deno.test({
  name: "host-local differential: each releases what the other allocated",
  ignore: !haveReference,
  fn: async () => {
    await using s = await setup("10.102.0.0/24");
    await addIP("ref", s.conf, "by-ref");
    await addIP("weft", s.conf, "by-weft");
    assertEquals(ipFiles(s.net), ["10.102.0.2", "10.102.0.3"]);
    assertEquals((await call("weft", "DEL", s.conf, "by-ref")).code, 0);
    assertEquals(ipFiles(s.net), ["10.102.0.3"]);
    assertEquals((await call("ref", "DEL", s.conf, "by-weft")).code, 0);
    assertEquals(ipFiles(s.net), []);
  },
});

Deno.test({
  name:
    "host-local differential: CHECK and duplicate detection see the other's allocations",
  ignore: !haveReference,
  fn: async () => {
    await using s = await setup("10.103.0.0/24");
    await addIP("weft", s.conf, "w");
    await addIP("ref", s.conf, "r");
    assertEquals((await call("ref", "CHECK", s.conf, "w")).code, 0);
    assertEquals((await call("weft", "CHECK", s.conf, "r")).code, 0);
    const dup = await call("weft", "ADD", s.conf, "r");
    assertMatch(String(json(dup).msg), /duplicate allocation is not allowed/);
    const refDup = await call("ref", "ADD", s.conf, "w");
    assertEquals(refDup.code, 1, "the reference refuses weft's holder too");
  },
});

Deno.test({
  name:
    "host-local differential: concurrent ADDs by both under the shared flock give distinct IPs",
  ignore: !haveReference,
  fn: async () => {
    await using s = await setup("10.104.0.0/24");
    const jobs: Promise<string>[] = [];
    for (let i = 0; i < 48; i++) {
      jobs.push(addIP(i % 3 === 0 ? "ref" : "weft", s.conf, `x${i}`));
    }
    const ips = await Promise.all(jobs);
    assertEquals(new Set(ips).size, 48);
    assertEquals(ipFiles(s.net).length, 48);
  },
});

Deno.test({
  name:
    "host-local differential: dual stack, the same IPv6 file names and sequence",
  ignore: !haveReference,
  fn: async () => {
    await using s = await setup("10.105.0.0/24");
    (s.conf.ipam as Conf).ranges = [
      [{ subnet: "10.105.0.0/24" }],
      [{ subnet: "fd00:105::/64" }],
    ];
    const both = async (who: Who, cid: string) => {
      const r = await call(who, "ADD", s.conf, cid);
      assertEquals(r.code, 0, r.stdout + r.stderr);
      return json<{ ips: { address: string }[] }>(r).ips.map((i) => i.address);
    };
    assertEquals(await both("ref", "a"), ["10.105.0.2/24", "fd00:105::2/64"]);
    assertEquals(await both("weft", "b"), ["10.105.0.3/24", "fd00:105::3/64"]);
    assertEquals(await both("ref", "c"), ["10.105.0.4/24", "fd00:105::4/64"]);
    assertEquals(ipFiles(s.net).filter((f) => f.includes(":")), [
      "fd00:105::2",
      "fd00:105::3",
      "fd00:105::4",
    ]);
    assertEquals((await call("weft", "DEL", s.conf, "a")).code, 0);
    assertEquals((await call("ref", "DEL", s.conf, "b")).code, 0);
    assertEquals(ipFiles(s.net), ["10.105.0.4", "fd00:105::4"]);
  },
});
