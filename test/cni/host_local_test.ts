// host-local: allocation order, ranges, requested IPs, release, CHECK, GC,
// STATUS and the on-disk format, run through the plugin skeleton.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { DiskStore } from "../../src/cni/host_local/mod.ts";
import { cniEnv, filesIn, json, runIn } from "./_helpers.ts";

type Conf = Record<string, unknown>;

async function setup(ipam: Conf, cniVersion = "1.1.0") {
  const dir = await Deno.makeTempDir({ prefix: "weft-hl-" });
  const conf: Conf = {
    cniVersion,
    name: "hlnet",
    type: "host-local",
    ipam: { type: "host-local", dataDir: dir, ...ipam },
  };
  return {
    dir,
    net: `${dir}/hlnet`,
    conf,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

async function add(
  conf: Conf,
  cid: string,
  extra: { ifname?: string; args?: string } = {},
) {
  return await runIn(
    "host-local",
    cniEnv("ADD", { cid, netns: "/x", ...extra }),
    conf,
  );
}

async function addIP(
  conf: Conf,
  cid: string,
  ifname = "eth0",
): Promise<string> {
  const r = await add(conf, cid, { ifname });
  assertEquals(r.code, 0, r.stdout);
  const ips = json<{ ips: { address: string }[] }>(r).ips;
  return ips.map((i) => i.address).join(",");
}

async function del(conf: Conf, cid: string, ifname = "eth0") {
  const r = await runIn("host-local", cniEnv("DEL", { cid, ifname }), conf);
  assertEquals(r.code, 0, r.stdout);
}

function ipFiles(net: string): string[] {
  return filesIn(net).filter((n) => n !== "lock" && !n.startsWith("last_"));
}

Deno.test("host-local: allocates from subnet+2 on (gateway skipped), round-robin after a release", async () => {
  await using s = await setup({ subnet: "10.80.0.0/24" });
  assertEquals(await addIP(s.conf, "a"), "10.80.0.2/24");
  assertEquals(await addIP(s.conf, "b"), "10.80.0.3/24");
  await del(s.conf, "a");
  assertEquals(await addIP(s.conf, "c"), "10.80.0.4/24");
  assertEquals(
    Deno.readTextFileSync(`${s.net}/last_reserved_ip.0`),
    "10.80.0.4",
  );
});

Deno.test("host-local: result has the gateway, routes and dns from resolvConf", async () => {
  await using s = await setup({});
  const resolv = `${s.dir}/resolv.conf`;
  Deno.writeTextFileSync(
    resolv,
    "# comment\nnameserver 10.43.0.10\nnameserver 1.1.1.1\nsearch a.local b.local\noptions ndots:5\ndomain a.local\n",
  );
  (s.conf.ipam as Conf).ranges = [[{
    subnet: "10.81.0.0/24",
    gateway: "10.81.0.254",
  }]];
  (s.conf.ipam as Conf).routes = [{ dst: "0.0.0.0/0" }, {
    dst: "10.0.0.0/8",
    gw: "10.81.0.9",
  }];
  (s.conf.ipam as Conf).resolvConf = resolv;
  const r = await add(s.conf, "a");
  assertEquals(json(r), {
    cniVersion: "1.1.0",
    ips: [{ address: "10.81.0.1/24", gateway: "10.81.0.254" }],
    routes: [{ dst: "0.0.0.0/0" }, { dst: "10.0.0.0/8", gw: "10.81.0.9" }],
    dns: {
      nameservers: ["10.43.0.10", "1.1.1.1"],
      domain: "a.local",
      search: ["a.local", "b.local"],
      options: ["ndots:5"],
    },
  });
});

Deno.test("host-local: rangeStart/rangeEnd bound allocation, wrap around, exhaustion message", async () => {
  await using s = await setup({
    ranges: [[{
      subnet: "10.82.0.0/24",
      rangeStart: "10.82.0.10",
      rangeEnd: "10.82.0.12",
    }]],
  });
  assertEquals(await addIP(s.conf, "a"), "10.82.0.10/24");
  assertEquals(await addIP(s.conf, "b"), "10.82.0.11/24");
  assertEquals(await addIP(s.conf, "c"), "10.82.0.12/24");
  const full = await add(s.conf, "d");
  assertEquals(full.code, 1);
  assertMatch(
    String(json(full).msg),
    /no IP addresses available in range set: 10\.82\.0\.10-10\.82\.0\.12/,
  );
  await del(s.conf, "a");
  assertEquals(await addIP(s.conf, "d"), "10.82.0.10/24", "wrapped around");
});

Deno.test("host-local: several ranges in one set are used in order", async () => {
  await using s = await setup({
    ranges: [[
      { subnet: "10.83.0.0/30" },
      { subnet: "10.83.1.0/30" },
    ]],
  });
  assertEquals(await addIP(s.conf, "a"), "10.83.0.2/30");
  assertEquals(await addIP(s.conf, "b"), "10.83.1.2/30");
  const full = await add(s.conf, "c");
  assertMatch(
    String(json(full).msg),
    /range set: 10\.83\.0\.1-10\.83\.0\.2,10\.83\.1\.1-10\.83\.1\.2$/,
  );
});

Deno.test("host-local: dual stack gives one IP per range set", async () => {
  await using s = await setup({
    ranges: [[{ subnet: "10.84.0.0/24" }], [{ subnet: "fd00:84::/64" }]],
  });
  assertEquals(await addIP(s.conf, "a"), "10.84.0.2/24,fd00:84::2/64");
  assertEquals(ipFiles(s.net), ["10.84.0.2", "fd00:84::2"]);
  assert(filesIn(s.net).includes("last_reserved_ip.1"));
});

Deno.test("host-local: a second ADD for the same container and ifname is refused", async () => {
  await using s = await setup({ subnet: "10.85.0.0/24" });
  await addIP(s.conf, "a");
  const again = await add(s.conf, "a");
  assertEquals(again.code, 1);
  assertMatch(String(json(again).msg), /duplicate allocation is not allowed/);
  assertEquals(
    await addIP(s.conf, "a", "eth1"),
    "10.85.0.3/24",
    "other ifname is fine",
  );
  assertEquals(ipFiles(s.net).length, 2);
});

Deno.test("host-local: requested IPs from CNI_ARGS, args.cni.ips and runtimeConfig.ips", async () => {
  await using s = await setup({ subnet: "10.86.0.0/24" });
  const viaArgs = await add(s.conf, "a", {
    args: "IgnoreUnknown=1;IP=10.86.0.50",
  });
  assertEquals(
    json<{ ips: { address: string }[] }>(viaArgs).ips[0].address,
    "10.86.0.50/24",
  );
  const viaCni = await add({
    ...s.conf,
    args: { cni: { ips: ["10.86.0.51"] } },
  }, "b");
  assertEquals(
    json<{ ips: { address: string }[] }>(viaCni).ips[0].address,
    "10.86.0.51/24",
  );
  const viaRc = await add({
    ...s.conf,
    runtimeConfig: { ips: ["10.86.0.52/24"] },
  }, "c");
  assertEquals(
    json<{ ips: { address: string }[] }>(viaRc).ips[0].address,
    "10.86.0.52/24",
  );

  const taken = await add(s.conf, "d", { args: "IP=10.86.0.50" });
  assertMatch(String(json(taken).msg), /10\.86\.0\.50 is not available/);
  const gw = await add(s.conf, "e", { args: "IP=10.86.0.1" });
  assertMatch(String(json(gw).msg), /subnet's gateway/);
  const outside = await add(s.conf, "f", { args: "IP=10.99.0.5" });
  assertMatch(
    String(json(outside).msg),
    /failed to allocate all requested IPs: 10\.99\.0\.5/,
  );
  assertEquals(ipFiles(s.net), ["10.86.0.50", "10.86.0.51", "10.86.0.52"]);
});

Deno.test("host-local: files are named by IP, hold '<cid>\\r\\n<ifname>', mode 0600, dir 0755, a lock file", async () => {
  await using s = await setup({ subnet: "10.87.0.0/24" });
  await addIP(s.conf, "cid-1", "net1");
  const bytes = Deno.readFileSync(`${s.net}/10.87.0.2`);
  assertEquals(new TextDecoder().decode(bytes), "cid-1\r\nnet1");
  assertEquals(Deno.statSync(`${s.net}/10.87.0.2`).mode! & 0o777, 0o600);
  assertEquals(Deno.statSync(s.net).mode! & 0o777, 0o755);
  assertEquals(filesIn(s.net), ["10.87.0.2", "last_reserved_ip.0", "lock"]);
});

Deno.test("host-local: DEL releases by container id and ifname, and a legacy id-only file", async () => {
  await using s = await setup({ subnet: "10.88.0.0/24" });
  await addIP(s.conf, "a", "eth0");
  await addIP(s.conf, "a", "eth1");
  Deno.writeTextFileSync(`${s.net}/10.88.0.100`, "a");
  await del(s.conf, "a", "eth0");
  assertEquals(ipFiles(s.net), ["10.88.0.3"]);
  await del(s.conf, "a", "eth0");
  await del(s.conf, "nobody");
  assertEquals(ipFiles(s.net), ["10.88.0.3"]);
});

Deno.test("host-local: CHECK passes while the IP is held and fails after DEL", async () => {
  await using s = await setup({ subnet: "10.89.0.0/24" });
  await addIP(s.conf, "a");
  const ok = await runIn(
    "host-local",
    cniEnv("CHECK", { cid: "a", netns: "/x" }),
    s.conf,
  );
  assertEquals(ok.code, 0, ok.stdout);
  await del(s.conf, "a");
  const gone = await runIn(
    "host-local",
    cniEnv("CHECK", { cid: "a", netns: "/x" }),
    s.conf,
  );
  assertEquals(gone.code, 1);
  assertMatch(String(json(gone).msg), /failed to find address/);
});

Deno.test("host-local: GC releases every IP whose owner is not a valid attachment", async () => {
  await using s = await setup({ subnet: "10.90.0.0/24" });
  for (const cid of ["keep", "drop1", "drop2"]) await addIP(s.conf, cid);
  await addIP(s.conf, "keep", "eth1");
  const r = await runIn("host-local", cniEnv("GC"), {
    ...s.conf,
    "cni.dev/valid-attachments": [
      { containerID: "keep", ifname: "eth0" },
      { containerID: "keep", ifname: "eth1" },
    ],
  });
  assertEquals(r.code, 0, r.stdout);
  assertEquals(r.stdout, "");
  assertEquals(ipFiles(s.net), ["10.90.0.2", "10.90.0.5"]);
  const old = await runIn("host-local", cniEnv("GC"), {
    ...s.conf,
    "cni.dev/attachments": [{ containerID: "keep", ifname: "eth0" }],
  });
  assertEquals(old.code, 0, old.stdout);
  assertEquals(ipFiles(s.net), ["10.90.0.2"]);
});

Deno.test("host-local: STATUS is ready with a usable dataDir and code 50 without", async () => {
  await using s = await setup({ subnet: "10.91.0.0/24" });
  const ok = await runIn("host-local", cniEnv("STATUS"), s.conf);
  assertEquals(ok.code, 0, ok.stdout);
  Deno.writeTextFileSync(`${s.dir}/file`, "");
  const bad = await runIn("host-local", cniEnv("STATUS"), {
    ...s.conf,
    ipam: { ...(s.conf.ipam as Conf), dataDir: `${s.dir}/file/sub` },
  });
  assertEquals(bad.code, 1);
  assertEquals(json(bad).code, 50);
});

Deno.test("host-local: results use the config's version shape", async () => {
  await using s = await setup({ subnet: "10.92.0.0/24" });
  const shapes: Record<string, unknown> = {
    "0.2.0": { ip4: { ip: "10.92.0.2/24", gateway: "10.92.0.1" } },
    "0.4.0": {
      ips: [{ version: "4", address: "10.92.0.3/24", gateway: "10.92.0.1" }],
    },
    "1.0.0": { ips: [{ address: "10.92.0.4/24", gateway: "10.92.0.1" }] },
  };
  let n = 0;
  for (const [v, shape] of Object.entries(shapes)) {
    const r = await add({ ...s.conf, cniVersion: v }, `c${n++}`);
    assertEquals(json(r), { cniVersion: v, ...shape as Conf, dns: {} });
  }
});

Deno.test("host-local: 64 concurrent ADDs get 64 distinct IPs and DEL leaves no IP file", async () => {
  await using s = await setup({ subnet: "10.93.0.0/24" });
  const ids = Array.from({ length: 64 }, (_, i) => `p${i}`);
  const ips = await Promise.all(ids.map((id) => addIP(s.conf, id)));
  assertEquals(new Set(ips).size, 64);
  assertEquals(ipFiles(s.net).length, 64);
  await Promise.all(ids.map((id) => del(s.conf, id)));
  assertEquals(ipFiles(s.net), []);
});

Deno.test("host-local: the lock is an exclusive flock that other processes (the reference) honor", async () => {
  await using s = await setup({ subnet: "10.94.0.0/24" });
  const store = DiskStore.open(s.dir, "hlnet");
  const probe = () =>
    new Deno.Command("flock", { args: ["-n", "-x", `${s.net}/lock`, "true"] })
      .output();
  const held = await store.withLock(async () => (await probe()).code);
  assertEquals(held, 1, "flock -n fails while weft holds the lock");
  assertEquals((await probe()).code, 0, "and succeeds once it is released");
});
