// The K3s conflist chain end to end through weft's runtime, in a test
// "host" namespace: flannel -> bridge + host-local (in process), then
// portmap and bandwidth; read back with ip -j, tc -j and iptables-save, then
// DEL leaves nothing.

import { assert, assertEquals } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import {
  ipv4Addrs,
  pings,
  tcpFetch,
  tcpServe,
  veths,
} from "../harness/cni_ns.ts";
import { filesIn, ipFiles, writeK3sConflist } from "./_helpers.ts";

const CNI_MAIN = new URL("./_cni_main.ts", import.meta.url).pathname;

async function runtimeIn(host: Netns, args: string[]) {
  return await host.run([Deno.execPath(), "run", "-A", CNI_MAIN, ...args]);
}

/** A TCP server in the pod (port 80) answers "hello"; the host dials each target. */
async function tcpHello(
  host: Netns,
  pod: Netns,
  targets: string[],
): Promise<string[]> {
  const out: string[] = [];
  for (const t of targets) {
    const [hostname, port] = t.split(":");
    await using srv = await tcpServe(pod, "0.0.0.0", 80, "hello");
    out.push(await tcpFetch(host, hostname, Number(port)));
    await srv.done;
  }
  return out;
}

Deno.test("K3s chain: flannel -> bridge/host-local -> portmap -> bandwidth through weft cni, then DEL cleans up", async () => {
  await using host = await Netns.create("k3shost");
  await using pod = await Netns.create("k3spod");
  const dir = await Deno.makeTempDir({ prefix: "weft-k3s-" });
  try {
    const conflist = writeK3sConflist(
      dir,
      "10-flannel.conflist",
      "10.42.3.1/24",
      [
        { type: "portmap", capabilities: { portMappings: true } },
        { type: "bandwidth", capabilities: { bandwidth: true } },
      ],
    );
    const common = [
      conflist,
      pod.path,
      "--container-id",
      "pod1",
      "--cache-dir",
      `${dir}/cache`,
    ];
    const add = await runtimeIn(host, [
      "add",
      ...common,
      "--port-mapping",
      "8080:80/tcp",
      "--capability",
      'bandwidth={"ingressRate":8000000,"ingressBurst":800000}',
    ]);
    assertEquals(add.code, 0, add.stdout + add.stderr);
    const result = JSON.parse(add.stdout);
    assertEquals(result.ips[0].address, "10.42.3.2/24");

    assertEquals(await ipv4Addrs(pod, "eth0"), ["10.42.3.2/24"]);
    const routes = await pod.json<{ dst: string; gateway?: string }[]>(
      "ip",
      "-j",
      "route",
    );
    assert(
      routes.some((r) => r.dst === "default" && r.gateway === "10.42.3.1"),
      JSON.stringify(routes),
    );
    assert((await ipv4Addrs(host, "cni0")).includes("10.42.3.1/24"));
    assertEquals(
      await tcpHello(host, pod, ["10.42.3.2:80", "10.42.3.1:8080"]),
      [
        "hello",
        "hello",
      ],
    );
    assert(await pings(pod, "10.42.3.1"), "pod -> cni0 gateway ping");
    assert(await pings(host, "10.42.3.2"), "host -> pod ping");
    const rules = await host.sh("iptables-save", "-t", "nat");
    assert(rules.includes("--to-destination 10.42.3.2:80"), rules);

    const veth = (await veths(host))[0];
    const qdiscs = await host.json<{ kind: string }[]>(
      "tc",
      "-j",
      "qdisc",
      "show",
      "dev",
      veth,
    );
    assert(qdiscs.some((q) => q.kind === "tbf"), JSON.stringify(qdiscs));

    const check = await runtimeIn(host, ["check", ...common]);
    assertEquals(check.code, 0, check.stdout + check.stderr);

    const del = await runtimeIn(host, ["del", ...common]);
    assertEquals(del.code, 0, del.stdout + del.stderr);
    const links = await pod.json<{ ifname: string }[]>("ip", "-j", "link");
    assertEquals(links.map((l) => l.ifname), ["lo"]);
    assertEquals(await veths(host), []);
    assertEquals(ipFiles(`${dir}/ipam/cbr0`), []);
    assertEquals(filesIn(`${dir}/flannel`), []);
    assertEquals(filesIn(`${dir}/cache/results`), []);
    const after = await host.sh("iptables-save", "-t", "nat");
    assert(!after.includes("10.42.3.2"), after);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
