// weft's default conflist (one plugin: flannel applying portMappings and
// bandwidth in process) against K3s's chain (flannel -> portmap ->
// bandwidth): with the same runtime arguments both leave the same iptables
// or nftables rules and tc qdiscs, read back in a test "host" namespace;
// the one-plugin shape also forwards traffic, CHECKs, GCs, answers STATUS
// and DEL removes everything (bandwidth and portmap before the delegate).

import { assert, assertEquals } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { ipv4Addrs, tcpFetch, tcpServe, veths } from "../harness/cni_ns.ts";
import { filesIn, ipFiles, writeK3sConflist } from "./_helpers.ts";

const CNI_MAIN = new URL("./_cni_main.ts", import.meta.url).pathname;

type Shape = "weft" | "k3s";
type Backend = "iptables" | "nftables";

const BANDWIDTH = {
  ingressRate: 8_000_000,
  ingressBurst: 800_000,
  egressRate: 4_000_000,
  egressBurst: 400_000,
};

/** The conflist of `shape`, portmap set to `backend`. */
function writeConflist(
  dir: string,
  shape: Shape,
  backend: Backend,
  cniVersion = "1.0.0",
): string {
  const file = "10-flannel.conflist";
  if (shape === "k3s") {
    return writeK3sConflist(dir, file, "10.42.3.1/24", [
      { type: "portmap", capabilities: { portMappings: true }, backend },
      { type: "bandwidth", capabilities: { bandwidth: true } },
    ]);
  }
  const path = writeK3sConflist(dir, file, "10.42.3.1/24", []);
  const list = JSON.parse(Deno.readTextFileSync(path));
  list.plugins[0].capabilities = { portMappings: true, bandwidth: true };
  list.plugins[0].portmap = { backend };
  list.cniVersion = cniVersion;
  Deno.writeTextFileSync(path, JSON.stringify(list));
  return path;
}

interface Pod extends AsyncDisposable {
  host: Netns;
  pod: Netns;
  dir: string;
  cni(verb: string, ...extra: string[]): Promise<string>;
}

async function attach(
  shape: Shape,
  backend: Backend,
  cniVersion = "1.0.0",
): Promise<Pod> {
  const host = await Netns.create(`op${shape[0]}h`);
  const pod = await Netns.create(`op${shape[0]}p`);
  const dir = await Deno.makeTempDir({ prefix: `weft-one-${shape}-` });
  const conflist = writeConflist(dir, shape, backend, cniVersion);
  const cni = async (verb: string, ...extra: string[]) => {
    const r = await host.run([
      Deno.execPath(),
      "run",
      "-A",
      CNI_MAIN,
      verb,
      conflist,
      ...(verb === "gc" || verb === "status" ? [] : [pod.path]),
      "--container-id",
      "pod1",
      "--cache-dir",
      `${dir}/cache`,
      ...extra,
    ]);
    assertEquals(r.code, 0, `${shape} ${verb}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  return {
    host,
    pod,
    dir,
    cni,
    async [Symbol.asyncDispose]() {
      await pod[Symbol.asyncDispose]();
      await host[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const RUNTIME_ARGS = [
  "--port-mapping",
  "8080:80/tcp",
  "--port-mapping",
  "5353:53/udp",
  "--capability",
  `bandwidth=${JSON.stringify(BANDWIDTH)}`,
];

/** Drops what differs between two equal rule sets (handles, counters, dates). */
function scrub(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(scrub);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === "handle" || k === "metainfo") continue;
      out[k] = scrub(x);
    }
    return out;
  }
  return v;
}

/** The netfilter rules and qdiscs a pod's ADD left in `host`. */
async function snapshot(host: Netns, backend: Backend) {
  let rules: unknown;
  if (backend === "iptables") {
    rules = (await host.sh("iptables-save", "-t", "nat"))
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.replace(/\[\d+:\d+\]/, "[0:0]"));
  } else {
    const doc = await host.json<{ nftables: unknown[] }>(
      "nft",
      "-j",
      "list",
      "table",
      "ip",
      "cni_hostport",
    );
    rules = scrub(doc.nftables);
  }
  const [veth] = await veths(host);
  const links = await host.json<{ ifname: string; link_type: string }[]>(
    "ip",
    "-j",
    "link",
  );
  const ifb = links.find((l) => l.ifname.startsWith("bwp"))?.ifname ?? "";
  const tc = async (...args: string[]) =>
    scrub(await host.json("tc", "-j", ...args));
  return {
    rules,
    ifb,
    vethQdiscs: await tc("qdisc", "show", "dev", veth),
    vethIngressFilters: await tc("filter", "show", "dev", veth, "ingress"),
    ifbQdiscs: ifb ? await tc("qdisc", "show", "dev", ifb) : [],
  };
}

for (const backend of ["iptables", "nftables"] as const) {
  Deno.test(`one-plugin flannel and K3s's chain leave the same ${backend} rules and tc qdiscs`, async () => {
    const seen: Record<Shape, unknown> = { weft: null, k3s: null };
    for (const shape of ["weft", "k3s"] as const) {
      await using p = await attach(shape, backend);
      const result = JSON.parse(await p.cni("add", ...RUNTIME_ARGS));
      assertEquals(result.ips[0].address, "10.42.3.2/24");
      const snap = await snapshot(p.host, backend);
      assert(snap.ifb !== "", `${shape}: no ifb device`);
      assert(
        result.interfaces.some((i: { name: string }) => i.name === snap.ifb),
        `${shape}: result lacks the ifb device`,
      );
      seen[shape] = snap;
      await p.cni("del", ...RUNTIME_ARGS);
    }
    assertEquals(seen.weft, seen.k3s);
    const s = seen.weft as Awaited<ReturnType<typeof snapshot>>;
    assert(JSON.stringify(s.rules).includes("10.42.3.2"), "no DNAT rules");
    assert(JSON.stringify(s.vethQdiscs).includes("tbf"), "no ingress tbf");
    assert(JSON.stringify(s.ifbQdiscs).includes("tbf"), "no egress tbf");
  });
}

Deno.test("one-plugin flannel (CNI 1.1.0): ADD forwards the host port, CHECK, GC, STATUS pass, DEL removes rules, ifb and the IP", async () => {
  await using p = await attach("weft", "iptables", "1.1.0");
  const { host, pod, dir } = p;
  await p.cni("add", ...RUNTIME_ARGS);
  assertEquals(await ipv4Addrs(pod, "eth0"), ["10.42.3.2/24"]);
  {
    await using srv = await tcpServe(pod, "0.0.0.0", 80, "hello");
    assertEquals(await tcpFetch(host, "10.42.3.1", 8080), "hello");
    await srv.done;
  }
  await p.cni("check", ...RUNTIME_ARGS);
  await p.cni("status");
  await p.cni("gc", "--valid", "pod1/eth0");
  assert(
    (await host.sh("iptables-save", "-t", "nat")).includes(
      "--to-destination 10.42.3.2:80",
    ),
    "GC removed a live container's rules",
  );

  // CHECK notices a removed qdisc (bandwidth runs inside flannel).
  const [veth] = await veths(host);
  await host.sh("tc", "qdisc", "del", "dev", veth, "root");
  const bad = await host.run([
    Deno.execPath(),
    "run",
    "-A",
    CNI_MAIN,
    "check",
    `${dir}/10-flannel.conflist`,
    pod.path,
    "--container-id",
    "pod1",
    "--cache-dir",
    `${dir}/cache`,
    ...RUNTIME_ARGS,
  ]);
  assertEquals(bad.code, 1, bad.stdout);
  assert(bad.stdout.includes("tbf"), bad.stdout);

  await p.cni("del", ...RUNTIME_ARGS);
  const links = await host.json<{ ifname: string }[]>("ip", "-j", "link");
  assert(!links.some((l) => l.ifname.startsWith("bwp")), "ifb left behind");
  assertEquals(await veths(host), []);
  assertEquals(ipFiles(`${dir}/ipam/cbr0`), []);
  assertEquals(filesIn(`${dir}/flannel`), []);
  const nat = await host.sh("iptables-save", "-t", "nat");
  assert(!nat.includes("10.42.3.2"), nat);
  assert(!nat.includes(":CNI-DN-"), nat);
});

Deno.test("one-plugin flannel (CNI 1.1.0): GC sweeps port-mapping chains of containers that are gone", async () => {
  await using p = await attach("weft", "iptables", "1.1.0");
  await p.cni("add", ...RUNTIME_ARGS);
  // The container vanished without DEL (say, a reboot of the runtime's
  // state): GC with no valid attachments DELs the cached one.
  await p.cni("gc");
  const nat = await p.host.sh("iptables-save", "-t", "nat");
  assert(!nat.includes(":CNI-DN-"), nat);
  assertEquals(ipFiles(`${p.dir}/ipam/cbr0`), []);
});

Deno.test("one-plugin flannel: DEL without a cached result (no prevResult) still removes the ifb device and the port mappings", async () => {
  await using p = await attach("weft", "iptables");
  await p.cni("add", ...RUNTIME_ARGS);
  await Deno.remove(`${p.dir}/cache`, { recursive: true });
  await p.cni("del", ...RUNTIME_ARGS);
  const links = await p.host.json<{ ifname: string }[]>("ip", "-j", "link");
  assert(!links.some((l) => l.ifname.startsWith("bwp")), "ifb left behind");
  const nat = await p.host.sh("iptables-save", "-t", "nat");
  assert(!nat.includes(":CNI-DN-"), nat);
  assertEquals(ipFiles(`${p.dir}/ipam/cbr0`), []);
});
