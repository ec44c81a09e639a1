// runFlannel with --flannel-backend wireguard-native: two agents in
// namespaces publish wireguard leases, program each other through
// wireguard-go, carry TCP, keep the device over a task restart, and drop a
// departed node's peer. Every wireguard-go is killed by its pid in finally.

import { assert, assertEquals } from "@std/assert";
import type { FlannelOptions } from "../../src/flannel/mod.ts";
import { Agent } from "./_agent.ts";
import { run } from "../harness/netns.ts";
import { FakeNodes, PREFIX } from "./_fake_nodes.ts";
import { eventually, reaches, Underlay } from "./_underlay.ts";

async function daemonPid(runDir: string): Promise<number | null> {
  try {
    const pid = Number(
      (await Deno.readTextFile(`${runDir}/wireguard/flannel-wg.pid`)).trim(),
    );
    const comm = (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
    return comm === "wireguard-go" ? pid : null;
  } catch {
    return null;
  }
}

/** Peers (`public-key endpoint allowed-ips keepalive`) as wg reads them. */
async function peers(runDir: string): Promise<string[]> {
  const pid = await daemonPid(runDir);
  if (pid === null) return [];
  const r = await run([
    "nsenter",
    "-t",
    String(pid),
    "-m",
    "-n",
    "wg",
    "show",
    "flannel-wg",
    "dump",
  ]);
  if (r.code !== 0) return [];
  return r.stdout.trim().split("\n").slice(1).map((l) => {
    const f = l.split("\t");
    return `${f[0]} ${f[2]} ${f[3]} ${f[7]}`;
  });
}

Deno.test("runFlannel wireguard-native: leases with public keys, peers both ways, TCP, restart keeps the device, a departed node's peer goes", async () => {
  await using u = await Underlay.create(2);
  const dir = await Deno.makeTempDir({ prefix: "weft-wg-run-" });
  const src = new FakeNodes();
  for (const [i] of u.nodes.entries()) {
    src.put({
      metadata: { name: `n${i}` },
      spec: { podCIDR: `10.42.${i + 1}.0/24` },
    });
  }
  const opts = (i: number): FlannelOptions => ({
    nodeName: `n${i}`,
    nodes: src,
    backend: "wireguard-native",
    dataDir: `${dir}/n${i}`,
    runDir: `${dir}/n${i}/run`,
    netns: u.nodes[i].ns.path,
    reconcileIntervalMs: 60_000,
    rulesIntervalMs: 60_000,
  });
  let agents = [new Agent(opts(0)), new Agent(opts(1))];
  try {
    for (const [i, n] of u.nodes.entries()) {
      await n.ns.sh("ip", "link", "add", "cni0", "type", "bridge");
      await n.ns.sh("ip", "addr", "add", `10.42.${i + 1}.1/24`, "dev", "cni0");
      await n.ns.sh("ip", "link", "set", "cni0", "up");
    }
    await eventually(
      "both agents ready",
      () => agents.every((a) => a.ready || a.error),
      30_000,
    );
    for (const a of agents) assertEquals(a.error, null, a.logs.join("\n"));
    const ann = (i: number) => src.nodes.get(`n${i}`)!.metadata.annotations!;
    assertEquals(ann(0)[`${PREFIX}backend-type`], "wireguard");
    const data = [0, 1].map((i) =>
      JSON.parse(ann(i)[`${PREFIX}backend-data`]) as {
        PublicKey: string;
        Port: number;
      }
    );
    assertEquals(data[0].Port, 51820);
    assertEquals(
      JSON.parse(
        await Deno.readTextFile(`${dir}/n0/agent/etc/flannel/net-conf.json`),
      ).Backend,
      { Type: "wireguard", PersistentKeepaliveInterval: 25 },
    );
    assertEquals(
      await Deno.readTextFile(`${dir}/n0/run/subnet.env`),
      "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.1.1/24\nFLANNEL_MTU=1420\nFLANNEL_IPMASQ=true\n",
    );
    await eventually(
      "peers both ways",
      async () =>
        JSON.stringify(await peers(`${dir}/n0/run`)) ===
          JSON.stringify([
            `${data[1].PublicKey} 192.168.77.2:51820 10.42.2.0/24 25`,
          ]) &&
        JSON.stringify(await peers(`${dir}/n1/run`)) ===
          JSON.stringify([
            `${data[0].PublicKey} 192.168.77.1:51820 10.42.1.0/24 25`,
          ]),
      20_000,
    );
    const tcp = async () => {
      const end = Date.now() + 20_000;
      while (Date.now() < end) {
        if (
          await reaches(u.nodes[0].ns, "10.42.2.1", "10.42.1.1", u.nodes[1].ns)
        ) return true;
      }
      return false;
    };
    assert(await tcp(), "TCP 10.42.1.1 -> 10.42.2.1 across flannel-wg");

    // A task restart: the same daemon and key, no device recreated.
    const pid = await daemonPid(`${dir}/n0/run`);
    assert(pid !== null);
    await agents[0].stop();
    assertEquals(await daemonPid(`${dir}/n0/run`), pid);
    agents = [new Agent(opts(0)), agents[1]];
    await eventually(
      "agent 0 ready again",
      () => agents[0].ready || !!agents[0].error,
      30_000,
    );
    assertEquals(agents[0].error, null, agents[0].logs.join("\n"));
    assertEquals(await daemonPid(`${dir}/n0/run`), pid);
    assert(!agents[0].logs.some((l) => l.includes("created flannel-wg")));
    assertEquals(
      JSON.parse(ann(0)[`${PREFIX}backend-data`]).PublicKey,
      data[0].PublicKey,
    );
    assert(await tcp(), "TCP after the restart");

    // n1 leaves the cluster: n0 drops its peer.
    src.remove("n1");
    await eventually(
      "n1's peer removed",
      async () => (await peers(`${dir}/n0/run`)).length === 0,
      20_000,
    );
  } finally {
    for (const a of agents) await a.stop();
    for (const i of [0, 1]) {
      const pid = await daemonPid(`${dir}/n${i}/run`);
      if (pid !== null) {
        Deno.kill(pid, "SIGKILL");
        for (let k = 0; k < 100 && await daemonPid(`${dir}/n${i}/run`); k++) {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
    await Deno.remove(dir, { recursive: true });
  }
});
