// The CNI runtime (libcni's job): chained ADD with injected keys and
// capabilities, the result cache, CHECK, reverse DEL, GC and STATUS; with
// recording script plugins and with weft's own plugins in a namespace.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { CniError } from "../../src/cni/mod.ts";
import {
  CniRuntime,
  parseCniArgs,
  parseConfList,
  parsePortMapping,
} from "../../src/cni/runtime/mod.ts";
import { filesIn, scriptPlugin } from "./_helpers.ts";

type Conf = Record<string, unknown>;

const RESULT1 = {
  cniVersion: "1.1.0",
  interfaces: [{ name: "eth0", sandbox: "/x" }],
  ips: [{ address: "10.5.0.9/24", interface: 0 }],
};

/** A temp dir with two recording plugins: rec1 returns RESULT1, rec2 echoes prevResult. */
async function setup(cniVersion = "1.1.0", extra: Conf = {}) {
  const dir = await Deno.makeTempDir({ prefix: "weft-rt-" });
  Deno.mkdirSync(`${dir}/bin`);
  Deno.mkdirSync(`${dir}/log`);
  const record = (name: string) =>
    `echo ${name}:$CNI_COMMAND >> ${dir}/log/order
cat > ${dir}/log/${name}.$CNI_COMMAND.json
env | grep ^CNI_ | sort > ${dir}/log/${name}.$CNI_COMMAND.env`;
  await scriptPlugin(
    `${dir}/bin`,
    "rec1",
    `${record("rec1")}
[ "$CNI_COMMAND" = ADD ] && echo '${JSON.stringify({ ...RESULT1, cniVersion })}'
[ "$CNI_COMMAND" = STATUS ] && [ -f ${dir}/notready ] && { echo '{"code":50,"msg":"not ready"}'; exit 1; }
exit 0`,
  );
  await scriptPlugin(
    `${dir}/bin`,
    "rec2",
    `${record("rec2")}
[ "$CNI_COMMAND" = ADD ] && /usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["prevResult"]))' ${dir}/log/rec2.ADD.json
exit 0`,
  );
  const list: Conf = {
    cniVersion,
    name: "rtnet",
    plugins: [
      { type: "rec1", capabilities: { ips: false } },
      {
        type: "rec2",
        capabilities: { portMappings: true, bandwidth: false },
        runtimeConfig: { stale: 1 },
      },
    ],
    ...extra,
  };
  const bytes = new TextEncoder().encode(JSON.stringify(list));
  const runtime = new CniRuntime({
    binDirs: [`${dir}/bin`],
    cacheDir: `${dir}/cache`,
    env: { PATH: "/usr/bin:/bin" },
    log: () => {},
  });
  return {
    dir,
    runtime,
    list: parseConfList(bytes),
    bytes,
    logJSON: (name: string) =>
      JSON.parse(Deno.readTextFileSync(`${dir}/log/${name}.json`)),
    order: () => Deno.readTextFileSync(`${dir}/log/order`).trim().split("\n"),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

const RT = {
  containerId: "ctr1",
  netns: "/run/netns/whatever",
  ifname: "eth0",
  args: [["K8S_POD_NAME", "p"]] as [string, string][],
  capabilityArgs: {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    bandwidth: { ingressRate: 1 },
    ips: ["10.5.0.50"],
  },
};

Deno.test("runtime ADD: plugins in order, name/cniVersion injected, prevResult chained, runtimeConfig by capability", async () => {
  await using s = await setup();
  const result = await s.runtime.add(s.list, RT);
  assertEquals(result, RESULT1);
  assertEquals(s.order(), ["rec1:ADD", "rec2:ADD"]);
  const in1 = s.logJSON("rec1.ADD");
  assertEquals([in1.name, in1.cniVersion, in1.type], [
    "rtnet",
    "1.1.0",
    "rec1",
  ]);
  assertEquals(in1.prevResult, undefined);
  assertEquals(in1.runtimeConfig, undefined, "ips capability is off for rec1");
  const in2 = s.logJSON("rec2.ADD");
  assertEquals(in2.prevResult, { ...RESULT1, dns: {} });
  assertEquals(in2.runtimeConfig, {
    portMappings: RT.capabilityArgs.portMappings,
  });
  const env = Deno.readTextFileSync(`${s.dir}/log/rec1.ADD.env`);
  for (
    const l of [
      "CNI_ARGS=K8S_POD_NAME=p",
      "CNI_COMMAND=ADD",
      "CNI_CONTAINERID=ctr1",
      "CNI_IFNAME=eth0",
      "CNI_NETNS=/run/netns/whatever",
      `CNI_PATH=${s.dir}/bin`,
    ]
  ) assert(env.includes(l), env);
});

Deno.test("runtime ADD: caches the result in libcni's format (cniCacheV1, 0600)", async () => {
  await using s = await setup();
  await s.runtime.add(s.list, RT);
  const path = `${s.dir}/cache/results/rtnet-ctr1-eth0`;
  assertEquals(Deno.statSync(path).mode! & 0o777, 0o600);
  const c = JSON.parse(Deno.readTextFileSync(path));
  assertEquals(c.kind, "cniCacheV1");
  assertEquals([c.containerId, c.ifName, c.networkName, c.netns], [
    "ctr1",
    "eth0",
    "rtnet",
    RT.netns,
  ]);
  assertEquals(c.cniArgs, [["K8S_POD_NAME", "p"]]);
  assertEquals(c.capabilityArgs, RT.capabilityArgs);
  assertEquals(c.result, { ...RESULT1, dns: {} });
  const config = Uint8Array.from(atob(c.config), (ch) => ch.charCodeAt(0));
  assertEquals(config, s.bytes);
});

Deno.test("runtime ADD: a failing plugin stops the chain and nothing is cached", async () => {
  await using s = await setup();
  await scriptPlugin(
    `${s.dir}/bin`,
    "rec2",
    `echo '{"code":7,"msg":"bad conf"}'; exit 1`,
  );
  const err = await s.runtime.add(s.list, RT).catch((e) => e);
  assert(err instanceof CniError);
  assertEquals([err.code, err.message], [7, "bad conf"]);
  assertEquals(filesIn(`${s.dir}/cache/results`), []);
});

Deno.test("runtime CHECK: every plugin with the cached result; disableCheck skips; < 0.4.0 refused", async () => {
  await using s = await setup();
  await s.runtime.add(s.list, RT);
  await s.runtime.check(s.list, RT);
  assertEquals(s.order().slice(2), ["rec1:CHECK", "rec2:CHECK"]);
  assertEquals(s.logJSON("rec2.CHECK").prevResult, { ...RESULT1, dns: {} });
  const missing = await s.runtime.check(s.list, { ...RT, containerId: "nope" })
    .catch((e) => e);
  assertMatch(String(missing.message), /no cached result/);

  await using off = await setup("1.1.0", { disableCheck: true });
  await off.runtime.add(off.list, RT);
  await off.runtime.check(off.list, RT);
  assertEquals(off.order(), ["rec1:ADD", "rec2:ADD"]);

  await using old = await setup("0.3.1");
  const e = await old.runtime.check(old.list, RT).catch((e) => e);
  assertEquals(e.code, 1);
});

Deno.test("runtime DEL: reverse order with the cached prevResult, then the cache entry is gone", async () => {
  await using s = await setup();
  await s.runtime.add(s.list, RT);
  await s.runtime.del(s.list, RT);
  assertEquals(s.order().slice(2), ["rec2:DEL", "rec1:DEL"]);
  assertEquals(s.logJSON("rec1.DEL").prevResult, { ...RESULT1, dns: {} });
  assertEquals(filesIn(`${s.dir}/cache/results`), []);
  await s.runtime.del(s.list, RT);
  assertEquals(
    s.logJSON("rec1.DEL").prevResult,
    undefined,
    "no cache: no prevResult",
  );
});

Deno.test("runtime DEL: a 0.3.1 list gets no prevResult", async () => {
  await using s = await setup("0.3.1");
  await s.runtime.add(s.list, RT);
  await s.runtime.del(s.list, RT);
  assertEquals(s.logJSON("rec1.DEL").prevResult, undefined);
});

Deno.test("runtime GC: DELs cached attachments not in the valid list, then GC on each plugin", async () => {
  await using s = await setup();
  await s.runtime.add(s.list, RT);
  await s.runtime.add(s.list, { ...RT, containerId: "ctr2" });
  await s.runtime.gc(s.list, [{ containerID: "ctr2", ifname: "eth0" }]);
  assertEquals(s.order().slice(4), [
    "rec2:DEL",
    "rec1:DEL",
    "rec1:GC",
    "rec2:GC",
  ]);
  assertEquals(
    s.logJSON("rec1.DEL").prevResult,
    { ...RESULT1, dns: {} },
  );
  const gc = s.logJSON("rec1.GC");
  assertEquals(gc["cni.dev/valid-attachments"], [{
    containerID: "ctr2",
    ifname: "eth0",
  }]);
  assertEquals(gc["cni.dev/attachments"], [{
    containerID: "ctr2",
    ifname: "eth0",
  }]);
  assertEquals(filesIn(`${s.dir}/cache/results`), ["rtnet-ctr2-eth0"]);
});

Deno.test("runtime STATUS: ready, then a plugin's code 50; refused below 1.1.0", async () => {
  await using s = await setup();
  await s.runtime.status(s.list);
  Deno.writeTextFileSync(`${s.dir}/notready`, "");
  const e = await s.runtime.status(s.list).catch((e) => e);
  assertEquals(e.code, 50);
  await using old = await setup("1.0.0");
  assertEquals((await old.runtime.status(old.list).catch((e) => e)).code, 1);
});

Deno.test("runtime: cniVersions picks the highest version weft speaks", () => {
  const l = parseConfList(
    new TextEncoder().encode(
      JSON.stringify({
        name: "n",
        cniVersions: ["0.4.0", "1.0.0", "9.0.0"],
        plugins: [{ type: "x" }],
      }),
    ),
  );
  assertEquals(l.cniVersion, "1.0.0");
});

Deno.test("runtime: a conflist without plugins or name is an error", () => {
  const parse = (o: unknown) => {
    try {
      parseConfList(new TextEncoder().encode(JSON.stringify(o)));
      return null;
    } catch (e) {
      return (e as CniError).code;
    }
  };
  assertEquals(parse({ name: "n", plugins: [] }), 7);
  assertEquals(parse({ plugins: [{ type: "x" }] }), 7);
  assertEquals(parse({ name: "n", plugins: [{}] }), 7);
});

Deno.test("parsePortMapping() reads host:container/proto and hostIP", () => {
  assertEquals(parsePortMapping("8080:80/udp"), {
    hostPort: 8080,
    containerPort: 80,
    protocol: "udp",
  });
  assertEquals(parsePortMapping("127.0.0.1:8080:80"), {
    hostPort: 8080,
    containerPort: 80,
    protocol: "tcp",
    hostIP: "127.0.0.1",
  });
});

Deno.test("parseCniArgs() reads flags, netns names and capability JSON", () => {
  const a = parseCniArgs([
    "add",
    "/etc/cni/net.d/10-flannel.conflist",
    "pod1",
    "--capability",
    'bandwidth={"ingressRate":1}',
    "--args=K=V",
    "--valid",
    "c9/net1",
  ]);
  assertEquals(a.netns, "/run/netns/pod1");
  assertEquals(a.containerId, "weft-pod1");
  assertEquals(a.capabilities, { bandwidth: { ingressRate: 1 } });
  assertEquals(a.cniArgs, [["K", "V"]]);
  assertEquals(a.valid, [{ containerID: "c9", ifname: "net1" }]);
  assertEquals(a.binDirs, ["/opt/cni/bin"]);
});

/** Runs `weft cni` as its own process. */
function cniProcess(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./_cni_main.ts", import.meta.url).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function cniRun(args: string[]) {
  const out = await cniProcess(args).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

async function flannelSetup(extraPlugins: Conf[] = []) {
  const dir = await Deno.makeTempDir({ prefix: "weft-rtf-" });
  Deno.mkdirSync(`${dir}/bin`);
  Deno.writeTextFileSync(
    `${dir}/subnet.env`,
    "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.9.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
  const list = {
    name: "cbr0",
    cniVersion: "1.1.0",
    plugins: [
      {
        type: "flannel",
        subnetFile: `${dir}/subnet.env`,
        dataDir: `${dir}/flannel`,
        ipam: { dataDir: `${dir}/ipam` },
        delegate: { type: "host-local" },
      },
      { type: "loopback" },
      ...extraPlugins,
    ],
  };
  Deno.writeTextFileSync(`${dir}/net.conflist`, JSON.stringify(list));
  const common = ["--cache-dir", `${dir}/cache`, "--cni-bin-dir", `${dir}/bin`];
  return {
    dir,
    common,
    ipFiles: () =>
      filesIn(`${dir}/ipam/cbr0`).filter((n) =>
        n !== "lock" && !n.startsWith("last_")
      ),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("weft cni add/check/del: weft's own plugins in process, in a namespace", async () => {
  await using ns = await Netns.create("rt");
  await using s = await flannelSetup();
  await ns.sh("ip", "link", "set", "lo", "down");
  const add = await cniRun([
    "add",
    `${s.dir}/net.conflist`,
    ns.name,
    ...s.common,
  ]);
  assertEquals(add.code, 0, add.stdout + add.stderr);
  const result = JSON.parse(add.stdout);
  assertEquals(result.ips, [{ address: "10.42.9.2/24", gateway: "10.42.9.1" }]);
  const [lo] = await ns.json<{ flags: string[] }[]>(
    "ip",
    "-j",
    "link",
    "show",
    "lo",
  );
  assert(lo.flags.includes("UP"), "loopback ran in the namespace");
  assertEquals(filesIn(`${s.dir}/cache/results`), [
    `cbr0-weft-${ns.name}-eth0`,
  ]);
  const check = await cniRun([
    "check",
    `${s.dir}/net.conflist`,
    ns.path,
    ...s.common,
  ]);
  assertEquals(check.code, 0, check.stdout + check.stderr);
  const del = await cniRun([
    "del",
    `${s.dir}/net.conflist`,
    ns.name,
    ...s.common,
  ]);
  assertEquals(del.code, 0, del.stdout + del.stderr);
  assertEquals(s.ipFiles(), []);
  assertEquals(filesIn(`${s.dir}/flannel`), []);
  assertEquals(filesIn(`${s.dir}/cache/results`), []);
});

Deno.test("weft cni: usage errors exit 2 with one line; plugin errors print CNI error JSON and exit 1", async () => {
  const bad = await cniRun(["frob", "x"]);
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /unknown verb "frob"/);
  const pm = await cniRun(["add", "x", "ns", "--port-mapping", "99999:1"]);
  assertEquals(pm.code, 2);
  assertMatch(pm.stderr, /invalid --port-mapping/);
  const missing = await cniRun(["add", "/nonexistent.conflist", "ns"]);
  assertEquals(missing.code, 1);
  assertEquals(JSON.parse(missing.stdout).code, 5);
});

Deno.test("GC after a SIGKILLed ADD returns the network to a clean state", async () => {
  await using keepNs = await Netns.create("keep");
  await using victimNs = await Netns.create("victim");
  await using s = await flannelSetup([{ type: "hang" }]);
  const marker = `${s.dir}/hang.pid`;
  await scriptPlugin(
    `${s.dir}/bin`,
    "hang",
    `cat > /dev/null
if [ "$CNI_CONTAINERID" = victim ] && [ "$CNI_COMMAND" = ADD ]; then echo $$ > ${marker}.tmp; mv ${marker}.tmp ${marker}; sleep 120; fi
[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.1.0","ips":[{"address":"10.42.9.2/24"}]}'
exit 0`,
  );
  const conflist = `${s.dir}/net.conflist`;
  const keep = await cniRun([
    "add",
    conflist,
    keepNs.path,
    "--container-id",
    "keep",
    ...s.common,
  ]);
  assertEquals(keep.code, 0, keep.stdout + keep.stderr);

  const child = cniProcess([
    "add",
    conflist,
    victimNs.path,
    "--container-id",
    "victim",
    ...s.common,
  ]);
  let hangPid = 0;
  try {
    for (let i = 0; i < 600 && !hangPid; i++) {
      try {
        hangPid = Number(Deno.readTextFileSync(marker).trim());
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert(hangPid > 0, "the ADD reached the hanging plugin");
  } finally {
    child.kill("SIGKILL");
    await child.output();
    if (hangPid) Deno.kill(hangPid, "SIGKILL");
  }
  assertEquals(s.ipFiles().length, 2, "the killed ADD left its IP behind");
  assertEquals(filesIn(`${s.dir}/flannel`), ["keep", "victim"]);
  assertEquals(
    filesIn(`${s.dir}/cache/results`),
    ["cbr0-keep-eth0"],
    "no cache for the killed ADD",
  );

  const gc = await cniRun([
    "gc",
    conflist,
    "--valid",
    "keep/eth0",
    ...s.common,
  ]);
  assertEquals(gc.code, 0, gc.stdout + gc.stderr);
  assertEquals(s.ipFiles(), ["10.42.9.2"]);
  assertEquals(filesIn(`${s.dir}/flannel`), ["keep"]);
  assertEquals(filesIn(`${s.dir}/cache/results`), ["cbr0-keep-eth0"]);
});

Deno.test("runtime: an exec that hits 'text file busy' (a plugin being written) is retried", async () => {
  await using s = await setup();
  const path = `${s.dir}/bin/rec1`;
  const writer = Deno.openSync(path, { write: true });
  const release = new Promise<void>((resolve) =>
    setTimeout(() => {
      writer.close();
      resolve();
    }, 150)
  );
  try {
    const result = await s.runtime.add(s.list, RT);
    assertEquals(result, RESULT1);
  } finally {
    await release;
  }
});
