// Issue 5's acceptance for the overlay itself, with real processes: a
// `weft server` and two `weft agent`s, each node its own network and mount
// namespace on one underlay bridge. (Pods through the CNI chain are covered
// by `weft demo --check` in test/e2e/.)

import { assert, assertEquals } from "@std/assert";
import type { Netns } from "../harness/netns.ts";
import { Cluster, type ClusterNode } from "./_cluster.ts";
import { eventually, exchange, reaches } from "./_underlay.ts";
import {
  flannelAddrs4,
  flannelLink,
  overlayState,
  plantStale,
} from "./_flannel1.ts";

const probeScript = new URL("./_probe.ts", import.meta.url).pathname;

async function subnetOf(c: Cluster, n: ClusterNode): Promise<string> {
  const env = await c.read(n, "/run/flannel/subnet.env");
  const m = env.match(/^FLANNEL_SUBNET=(\d+\.\d+\.\d+)\.1\/24$/m);
  if (!m) throw new Error(`no FLANNEL_SUBNET on ${n.name}: ${env}`);
  return `${m[1]}.0`;
}

const overlay = (ns: Netns) => overlayState(ns, { missingAsEmpty: true });

/** What node `me` should have on flannel.1 for the other nodes. */
async function expectedOn(c: Cluster, me: ClusterNode, peers: ClusterNode[]) {
  const out = {
    routes: [] as string[],
    neighs: [] as string[],
    fdb: [] as string[],
  };
  for (const p of peers) {
    if (p === me) continue;
    const gw = await subnetOf(c, p);
    const link = await flannelLink(p.ns);
    out.routes.push(`${gw}/24 via ${gw}`);
    out.neighs.push(`${gw} ${link.address}`);
    out.fdb.push(`${link.address} ${p.ip}`);
  }
  out.routes.sort();
  out.neighs.sort();
  out.fdb.sort();
  return out;
}

async function converged(c: Cluster, peers: ClusterNode[]): Promise<boolean> {
  for (const n of peers) {
    const want = await expectedOn(c, n, peers);
    if (JSON.stringify(await overlay(n.ns)) !== JSON.stringify(want)) {
      return false;
    }
  }
  return true;
}

Deno.test({
  name:
    "cluster (vxlan): seeds' flannel.1 on every node, traffic across, node deletion, stale entries, deleted device, agent restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await Cluster.start({
      nodes: 3,
      env: { WEFT_FLANNEL_RECONCILE_MS: "500" },
    });
    const [n1, n2, n3] = c.nodes;
    try {
      // Device shape on every node.
      for (const n of c.nodes) {
        const link = await flannelLink(n.ns);
        assertEquals(link.linkinfo.info_kind, "vxlan");
        assertEquals(link.linkinfo.info_data.id, 1);
        assertEquals(link.linkinfo.info_data.port, 8472);
        assertEquals(link.linkinfo.info_data.learning, false);
        assertEquals(link.mtu, 1450);
        assertEquals(
          await flannelAddrs4(n.ns),
          [`${await subnetOf(c, n)}/32`],
        );
      }
      await eventually(
        "every node has every other node's entries",
        () => converged(c, c.nodes),
        20_000,
      );
      for (const a of c.nodes) {
        const src = await subnetOf(c, a);
        for (const b of c.nodes) {
          if (a === b) continue;
          // Arrives with its own source address: no NAT inside the cluster.
          assertEquals(
            await exchange(a.ns, await subnetOf(c, b), src, b.ns),
            src,
            `${a.name} -> ${b.name}`,
          );
        }
        // Out of the cluster CIDR (the underlay's gateway): masqueraded.
        assertEquals(await exchange(a.ns, "10.251.0.1", src, c.ul), a.ip);
      }

      // Annotations and the node condition, as flannel writes them.
      for (const n of c.nodes) {
        const node = JSON.parse(
          (await c.kubectl("get", "node", n.name, "-o", "json")).stdout,
        );
        const a = node.metadata.annotations;
        assertEquals(a["flannel.alpha.coreos.com/kube-subnet-manager"], "true");
        assertEquals(a["flannel.alpha.coreos.com/backend-type"], "vxlan");
        assertEquals(a["flannel.alpha.coreos.com/public-ip"], n.ip);
        const link = await flannelLink(n.ns);
        assertEquals(
          JSON.parse(a["flannel.alpha.coreos.com/backend-data"]),
          { VNI: 1, VtepMAC: link.address },
        );
        const cond = (node.status.conditions as {
          type: string;
          status: string;
          reason: string;
        }[]).find((c) => c.type === "NetworkUnavailable");
        assertEquals([cond?.status, cond?.reason], ["False", "FlannelIsUp"]);
      }

      // Plant stale entries on node2: the periodic reconcile removes them.
      await plantStale(
        n2.ns,
        "10.42.200.0",
        "02:00:00:00:c8:00",
        "10.251.0.200",
      );
      await eventually(
        "stale entries removed on node2",
        () => converged(c, c.nodes),
        20_000,
      );

      // Delete flannel.1 by hand on node2: it and every entry come back.
      await n2.ns.sh("ip", "link", "del", "flannel.1");
      await eventually(
        "flannel.1 back on node2",
        () => converged(c, c.nodes),
        20_000,
      );
      assert(
        await reaches(
          n1.ns,
          await subnetOf(c, n2),
          await subnetOf(c, n1),
          n2.ns,
        ),
      );

      // Restart node2's agent while node1 probes node2 every 100 ms.
      const dst = await subnetOf(c, n2);
      const server = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          n2.ns.name,
          Deno.execPath(),
          "run",
          "-A",
          probeScript,
          "serve",
          dst,
          "7777",
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      try {
        const r = server.stdout.pipeThrough(new TextDecoderStream())
          .getReader();
        await r.read();
        r.releaseLock();
        server.stdout.cancel().catch(() => {});
        const prober = new Deno.Command("ip", {
          args: [
            "netns",
            "exec",
            n1.ns.name,
            Deno.execPath(),
            "run",
            "-A",
            probeScript,
            "probe",
            dst,
            "7777",
            "100",
            "150",
          ],
          stdout: "piped",
          stderr: "null",
        }).spawn();
        await new Promise((r) => setTimeout(r, 1000));
        const upBefore =
          (await Deno.readTextFile(n2.log)).split("flannel is up").length;
        await c.stopWeft(n2);
        c.startWeft(n2);
        await eventually(
          "node2's flannel up again",
          async () =>
            (await Deno.readTextFile(n2.log)).split("flannel is up").length >
              upBefore,
          60_000,
        );
        const out = new TextDecoder().decode((await prober.output()).stdout);
        const { ok, lost } = JSON.parse(out);
        assert(
          lost <= 1,
          `lost ${lost} of ${ok + lost} probes across the agent restart`,
        );
        assert(ok >= 140, out);
      } finally {
        server.kill("SIGKILL");
        await server.status;
      }
      assert(await converged(c, c.nodes));

      // Delete node3 from the API (its agent stopped first, or it would
      // register again): within 2 s its entries are gone on the others.
      await c.stopWeft(n3);
      const del = await c.kubectl("delete", "node", "node3");
      assertEquals(del.code, 0, del.stderr);
      const t0 = Date.now();
      await eventually(
        "node3's entries gone",
        () => converged(c, [n1, n2]),
        2_000,
      );
      assert(Date.now() - t0 <= 2_000);
    } catch (e) {
      console.error(await c.logs());
      throw e;
    }
  },
});

const directConf = await Deno.makeTempFile({ suffix: "-net-conf.json" });
await Deno.writeTextFile(
  directConf,
  `{"Network":"10.42.0.0/16","Backend":{"Type":"vxlan","DirectRouting":true}}`,
);
addEventListener("unload", () => Deno.removeSync(directConf));

for (
  const [name, opts, device] of [
    ["host-gw", { serverArgs: ["--flannel-backend", "host-gw"] }, false],
    ["vxlan DirectRouting", {
      serverArgs: ["--flannel-conf", directConf],
      agentArgs: ["--flannel-conf", directConf],
    }, true],
  ] as const
) {
  Deno.test({
    name:
      `cluster (${name}): routes via node IPs on every node, traffic across`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using c = await Cluster.start({ nodes: 3, ...opts });
      try {
        await eventually("routes via node IPs everywhere", async () => {
          for (const n of c.nodes) {
            const routes = await n.ns.json<
              { dst: string; gateway?: string; dev: string }[]
            >("ip", "-j", "route", "show", "root", "10.42.0.0/16");
            const via = routes.filter((r) => r.gateway && r.dev === "eth0")
              .map((r) => `${r.dst} via ${r.gateway}`).sort();
            const want = [];
            for (const p of c.nodes) {
              if (p !== n) want.push(`${await subnetOf(c, p)}/24 via ${p.ip}`);
            }
            if (JSON.stringify(via) !== JSON.stringify(want.sort())) {
              return false;
            }
          }
          return true;
        }, 20_000);
        for (const n of c.nodes) {
          const link = await n.ns.run(["ip", "link", "show", "flannel.1"]);
          assertEquals(link.code === 0, device);
          if (device) {
            assertEquals(await overlay(n.ns), {
              routes: [],
              neighs: [],
              fdb: [],
            });
          }
          // A stand-in for cni0 holding the node's gateway address.
          const gw = (await subnetOf(c, n)).replace(/0$/, "1");
          await n.ns.sh("ip", "link", "add", "t0", "type", "bridge");
          await n.ns.sh("ip", "addr", "add", `${gw}/24`, "dev", "t0");
          await n.ns.sh("ip", "link", "set", "t0", "up");
        }
        for (const a of c.nodes) {
          const src = (await subnetOf(c, a)).replace(/0$/, "1");
          for (const b of c.nodes) {
            if (a === b) continue;
            const dst = (await subnetOf(c, b)).replace(/0$/, "1");
            assertEquals(
              await exchange(a.ns, dst, src, b.ns),
              src,
              `${a.name} -> ${b.name}`,
            );
          }
          assertEquals(await exchange(a.ns, "10.251.0.1", src, c.ul), a.ip);
        }
      } catch (e) {
        console.error(await c.logs());
        throw e;
      }
    },
  });
}
