// weft doctor: each condition is created in a namespace (or a temp data
// dir) and detected; --fix repairs what it claims to.

import { launcherImage } from "../../src/cni/launcher/mod.ts";
import { assertEquals, assertStringIncludes } from "@std/assert";
import {
  checkBridgeNf,
  checkChecksumOffload,
  checkCniConfigs,
  checkCniLinks,
  checkIpForward,
  checkKernel,
  checkVxlanMtu,
  type DoctorEnv,
} from "../../src/cli/doctor/checks.ts";
import { installCni } from "../../src/cli/cni_install.ts";
import { Netns } from "../harness/netns.ts";
import { runWeft } from "../harness/weft.ts";

/** A doctor environment on a fresh temp data dir (removed on dispose). */
async function tempEnv(): Promise<DoctorEnv & AsyncDisposable> {
  const dataDir = await Deno.makeTempDir({ prefix: "weft-doctor-" });
  return {
    dataDir,
    vxlanDev: "flannel.1",
    [Symbol.asyncDispose]: () => Deno.remove(dataDir, { recursive: true }),
  };
}

async function envFor(ns: Netns): Promise<DoctorEnv & AsyncDisposable> {
  return { ...(await tempEnv()), netns: ns.path };
}

/** flannel.1 as flannel's vxlan backend makes it; `opts` before the type. */
function addFlannelVxlan(ns: Netns, ...opts: string[]): Promise<string> {
  return ns.sh(
    "ip",
    "link",
    "add",
    "flannel.1",
    ...opts,
    "type",
    "vxlan",
    "id",
    "1",
    "dstport",
    "8472",
  );
}

Deno.test("doctor: ip_forward=0 in the namespace fails, --fix sets it", async () => {
  await using ns = await Netns.create("doc-fwd");
  await using env = await envFor(ns);
  await ns.sh("sysctl", "-qw", "net.ipv4.ip_forward=0");
  const bad = await checkIpForward(env);
  assertEquals(bad.verdict, "fail");
  assertStringIncludes(bad.fix!, "sysctl -w net.ipv4.ip_forward=1");
  await bad.repair!();
  assertEquals(
    (await ns.sh("cat", "/proc/sys/net/ipv4/ip_forward")).trim(),
    "1",
  );
  assertEquals((await checkIpForward(env)).verdict, "ok");
});

Deno.test("doctor: bridge-nf-call-iptables=0 in the namespace is reported and fixed", async () => {
  await using ns = await Netns.create("doc-brnf");
  await using env = await envFor(ns);
  const have = await ns.run([
    "cat",
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
  ]);
  if (have.code !== 0) {
    // br_netfilter is not loaded on this machine: the check says so.
    const r = await checkBridgeNf(env);
    assertEquals(r.verdict, "warn");
    assertStringIncludes(r.fix!, "modprobe br_netfilter");
    return;
  }
  await ns.sh("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0");
  const bad = await checkBridgeNf(env);
  assertEquals(bad.verdict, "warn");
  assertStringIncludes(bad.detail, "bridge-nf-call-iptables=0");
  await bad.repair!();
  assertEquals((await checkBridgeNf(env)).verdict, "ok");
});

Deno.test("doctor: tx checksum offload on flannel.1 is the k3s#2013 hazard; --fix turns it off", async () => {
  await using ns = await Netns.create("doc-csum");
  await using env = await envFor(ns);
  assertEquals(
    (await checkChecksumOffload(env)).verdict,
    "ok",
    "no flannel.1 yet",
  );
  await addFlannelVxlan(ns);
  const bad = await checkChecksumOffload(env);
  assertEquals(bad.verdict, "warn");
  assertEquals(bad.fix, "ethtool -K flannel.1 tx-checksum-ip-generic off");
  await bad.repair!();
  const k = await ns.sh("ethtool", "-k", "flannel.1");
  assertStringIncludes(k, "tx-checksumming: off");
  assertEquals((await checkChecksumOffload(env)).verdict, "ok");
});

Deno.test("doctor: flannel.1 MTU above the uplink's minus 50 fails; --fix lowers it", async () => {
  await using ns = await Netns.create("doc-mtu");
  await using env = await envFor(ns);
  await ns.sh(
    "ip",
    "link",
    "add",
    "up0",
    "mtu",
    "1500",
    "type",
    "veth",
    "peer",
    "name",
    "up1",
  );
  await ns.sh("ip", "link", "set", "up0", "up");
  await ns.sh("ip", "addr", "add", "192.0.2.2/24", "dev", "up0");
  await ns.sh(
    "ip",
    "route",
    "add",
    "default",
    "via",
    "192.0.2.1",
    "dev",
    "up0",
    "onlink",
  );
  await addFlannelVxlan(ns, "mtu", "1500");
  const bad = await checkVxlanMtu(env);
  assertEquals(bad.verdict, "fail");
  assertStringIncludes(bad.detail, "1500 > up0 MTU 1500 - 50");
  await bad.repair!();
  const [link] = await ns.json<{ mtu: number }[]>(
    "ip",
    "-j",
    "link",
    "show",
    "flannel.1",
  );
  assertEquals(link.mtu, 1450);
  assertEquals((await checkVxlanMtu(env)).verdict, "ok");
});

Deno.test("doctor: another CNI config sorting before 10-flannel.conflist is a conflict", async () => {
  await using env = await tempEnv();
  const { dataDir } = env;
  await installCni({ dataDir, backend: "vxlan", execPath: "/x/weft" });
  assertEquals((await checkCniConfigs(env)).verdict, "ok");
  const conf = `${dataDir}/agent/etc/cni/net.d`;
  await Deno.writeTextFile(`${conf}/05-calico.conflist`, "{}");
  const bad = await checkCniConfigs(env);
  assertEquals(bad.verdict, "fail");
  assertStringIncludes(
    bad.detail,
    "the runtime uses the first, 05-calico.conflist",
  );
  await Deno.remove(`${conf}/05-calico.conflist`);
  await Deno.writeTextFile(`${conf}/99-extra.conf`, "{}");
  assertEquals((await checkCniConfigs(env)).verdict, "warn");
});

Deno.test("doctor: dangling CNI links, wrappers and launchers running a missing file are stale; --fix reinstalls", async () => {
  await using env = await tempEnv();
  const { dataDir } = env;
  await installCni({ dataDir, backend: "vxlan" });
  assertEquals((await checkCniLinks(env)).verdict, "ok");
  const bin = `${dataDir}/data/cni`;
  await Deno.remove(`${bin}/bridge`);
  await Deno.symlink("/nonexistent/weft-0.0.1", `${bin}/bridge`);
  await Deno.writeTextFile(
    `${bin}/portmap`,
    `#!/bin/bash\nexec -a portmap '/gone/deno' run -A -q '/gone/main.ts' "$@"\n`,
  );
  // A launcher whose fallback entry is gone (a moved checkout).
  await Deno.writeFile(
    `${bin}/loopback`,
    launcherImage({
      socket: "/run/x.sock",
      exec: Deno.execPath(),
      argv: ["deno", "run", "/gone/.weft-cni.js", "loopback"],
      lostArgv: ["deno"],
    }),
  );
  await Deno.writeTextFile(`${bin}/bandwidth`, "#!/bin/sh\necho hi\n");
  const bad = await checkCniLinks(env);
  assertEquals(bad.verdict, "fail");
  assertStringIncludes(
    bad.detail,
    "bridge -> /nonexistent/weft-0.0.1 (dangling)",
  );
  assertStringIncludes(bad.detail, "portmap (runs missing /gone/deno)");
  assertStringIncludes(
    bad.detail,
    "loopback (runs missing /gone/.weft-cni.js)",
  );
  assertStringIncludes(bad.detail, "bandwidth (not weft's)");
  await bad.repair!();
  assertEquals((await checkCniLinks(env)).verdict, "ok");
});

Deno.test("doctor: kernel probes run in throwaway namespaces and find vxlan, bridge and wireguard-go", async () => {
  const results = await checkKernel();
  const by = new Map(results.map((r) => [r.name, r]));
  assertEquals(by.get("kernel vxlan")?.verdict, "ok");
  assertEquals(by.get("kernel bridge")?.verdict, "ok");
  // scripts/install.sh installs wireguard-go; the TUN device is there.
  assertEquals(by.get("wireguard-go")?.verdict, "ok");
});

Deno.test("weft doctor: a missing libnl fails with the packages to install, exit 1", async () => {
  await using ns = await Netns.create("doc-libnl");
  await using env = await tempEnv();
  const r = await runWeft([
    "doctor",
    "--skip-kernel",
    "--json",
    "--netns",
    ns.path,
    "--data-dir",
    env.dataDir,
  ], { env: { WEFT_LIBNL_DIR: "/nonexistent-libnl" } });
  assertEquals(r.code, 1, r.stderr);
  const out = JSON.parse(r.stdout) as {
    results: { name: string; verdict: string; fix?: string }[];
  };
  const libnl = out.results.find((x) => x.name === "libnl")!;
  assertEquals(libnl.verdict, "fail");
  assertStringIncludes(libnl.fix!, "libnl-3-200");
});
