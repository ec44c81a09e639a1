// weft doctor on IPv6 nodes: the families come from subnet.env or the
// default routes; IPv6 forwarding is checked (and IPv4 forwarding is not
// required) on an IPv6-only node; flannel-v6.1's MTU is held to the uplink's
// minus 70 (VXLAN over IPv6).

import { assertEquals, assertStringIncludes } from "@std/assert";
import {
  checkIpForward,
  checkVxlanMtu,
  type DoctorEnv,
  nodeFamilies,
} from "../../src/cli/doctor/checks.ts";
import { Netns } from "../harness/netns.ts";

async function envFor(ns: Netns): Promise<DoctorEnv & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "weft-doctor6-" });
  return {
    netns: ns.path,
    dataDir: dir,
    runDir: `${dir}/run`,
    vxlanDev: "flannel.1",
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** An IPv6-only uplink: up0 with fd77::2/64 and only an IPv6 default route. */
async function ipv6Uplink(ns: Netns): Promise<void> {
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
  await ns.sh("ip", "addr", "add", "fd77::2/64", "dev", "up0", "nodad");
  await ns.sh("ip", "-6", "route", "add", "default", "via", "fd77::fe");
}

Deno.test("doctor: an IPv6-only node needs IPv6 forwarding, not IPv4's; --fix sets it", async () => {
  await using ns = await Netns.create("doc6-fwd");
  await using env = await envFor(ns);
  await ipv6Uplink(ns);
  assertEquals(await nodeFamilies(env), [6]);
  await ns.sh("sysctl", "-qw", "net.ipv4.ip_forward=0");
  await ns.sh("sysctl", "-qw", "net.ipv6.conf.all.forwarding=0");
  const v4 = await checkIpForward(env, 4);
  assertEquals(v4.verdict, "ok");
  assertStringIncludes(v4.detail, "not needed");
  const bad = await checkIpForward(env, 6);
  assertEquals(bad.verdict, "fail");
  assertStringIncludes(bad.fix!, "sysctl -w net.ipv6.conf.all.forwarding=1");
  await bad.repair!();
  assertEquals(
    (await ns.sh("cat", "/proc/sys/net/ipv6/conf/all/forwarding")).trim(),
    "1",
  );
  assertEquals((await checkIpForward(env, 6)).verdict, "ok");
});

Deno.test("doctor: the node's families come from flannel's subnet.env when there is one", async () => {
  await using ns = await Netns.create("doc6-env");
  await using env = await envFor(ns);
  assertEquals(await nodeFamilies(env), [4], "nothing known: IPv4");
  await Deno.mkdir(env.runDir!, { recursive: true });
  const write = (t: string) =>
    Deno.writeTextFile(`${env.runDir}/subnet.env`, t);
  await write(
    "FLANNEL_NETWORK=0.0.0.0/0\nFLANNEL_IPV6_NETWORK=fd42::/56\nFLANNEL_IPV6_SUBNET=fd42::1/64\n",
  );
  assertEquals(await nodeFamilies(env), [6]);
  await write(
    "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.1.1/24\nFLANNEL_IPV6_NETWORK=fd42::/56\n",
  );
  assertEquals(await nodeFamilies(env), [4, 6]);
  // A dual-stack node with IPv4 forwarding off fails the IPv4 check.
  await ns.sh("sysctl", "-qw", "net.ipv4.ip_forward=0");
  assertEquals((await checkIpForward(env, 4)).verdict, "fail");
});

Deno.test("doctor: flannel-v6.1 MTU above the IPv6 uplink's minus 70 fails; --fix lowers it", async () => {
  await using ns = await Netns.create("doc6-mtu");
  await using env = await envFor(ns);
  await ipv6Uplink(ns);
  assertEquals((await checkVxlanMtu(env, 6)).verdict, "ok", "no device yet");
  await ns.sh(
    "ip",
    "link",
    "add",
    "flannel-v6.1",
    "mtu",
    "1450",
    "type",
    "vxlan",
    "id",
    "1",
    "dstport",
    "8472",
  );
  const bad = await checkVxlanMtu(env, 6);
  assertEquals(bad.verdict, "fail");
  assertStringIncludes(bad.detail, "1450 > up0 MTU 1500 - 70");
  await bad.repair!();
  const [link] = await ns.json<{ mtu: number }[]>(
    "ip",
    "-j",
    "link",
    "show",
    "flannel-v6.1",
  );
  assertEquals(link.mtu, 1430);
  assertEquals((await checkVxlanMtu(env, 6)).verdict, "ok");
});
