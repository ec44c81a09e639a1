// Issue 13's acceptance, in namespaces: a 3-member etcd (Debian's
// etcd-server, one member in each of node1..node3), two weft servers
// (node1, node2) on it, two agents (node3, node4) with pods. kill -9 of
// server node1 while a client writes through it: kubectl through node2
// works, no acknowledged write is lost, pods keep talking (at most one lost
// probe at 100 ms), the agents keep working through node2 and a node that
// joins after the kill (node5) gets its routes on every agent. Then one etcd
// member is killed and nothing notices.

import { assert, assertEquals } from "@std/assert";
import { Demo } from "../../src/cli/demo/mod.ts";
import { runChecks, summarize, tcpCheck } from "../../src/cli/demo/matrix.ts";
import { exec, spawnLogged } from "../../src/cli/demo/proc.ts";
import { RESPONDER_PORT } from "../../src/cli/demo/responder.ts";
import type { DemoNode } from "../../src/cli/demo/topology.ts";
import { EtcdCluster, haveEtcd } from "../harness/etcd.ts";

const TOKEN = "ha-test-cluster-secret";
const CONFLIST = "/var/lib/weft/agent/etc/cni/net.d/10-flannel.conflist";

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 90_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what} ${last}`);
}

async function lines(path: string): Promise<string[]> {
  return (await Deno.readTextFile(path).catch(() => "")).split("\n")
    .filter((l) => l);
}

Deno.test({
  name:
    "two servers on a 3-member etcd survive kill -9 of a server and of an etcd member",
  ignore: !haveEtcd(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const demo = new Demo({
      nodes: 5,
      backend: "vxlan",
      check: true,
      timeoutMs: 120_000,
      prefix: `weft-t-${Deno.pid}-ha-`,
    }, new AbortController().signal);
    const { topo } = demo;
    let etcd: EtcdCluster | null = null;
    const extra: { stop: () => Promise<void> }[] = [];
    let passed = false;
    try {
      await topo.checkFree();
      demo.procs.logDir = await Deno.makeTempDir({ prefix: "weft-ha-logs-" });
      await topo.createUnderlay();
      for (let i = 1; i <= 5; i++) {
        const n = await topo.addNode(i);
        demo.responders.serve(`/run/netns/${n.netns}`, n.name);
      }
      const [n1, n2, n3, n4, n5] = topo.nodes;
      etcd = await EtcdCluster.start({
        size: 3,
        hosts: [n1.ip, n2.ip, n3.ip],
        prefix: (i) => topo.enter(topo.nodes[i]),
      });
      const serverArgs = [
        "--disable-agent",
        "--token",
        TOKEN,
        "--datastore-endpoint",
        etcd.endpoint,
      ];
      demo.procs.start(n1, "server", serverArgs);
      const healthy = (n: DemoNode) => async () =>
        (await demo.kubectl(n, "get", "--raw", "/healthz")).code === 0
          ? true
          : undefined;
      await until("server node1", healthy(n1));
      demo.procs.start(n2, "server", serverArgs);
      await until("server node2", healthy(n2));
      const caOf = (n: DemoNode) =>
        Deno.readTextFile(
          topo.path(n, "/var/lib/weft/server/tls/server-ca.crt"),
        );
      assertEquals(await caOf(n1), await caOf(n2), "both serve one CA");
      const agentToken = (await Deno.readTextFile(
        topo.path(n2, "/var/lib/weft/server/agent-token"),
      )).trim();
      const agent = (n: DemoNode, via: DemoNode) =>
        demo.procs.start(n, "agent", [
          "--server",
          `https://${via.ip}:6443`,
          "--token",
          agentToken,
        ]);
      agent(n3, n1);
      agent(n4, n1);
      const flannelUp = (n: DemoNode) =>
        until(`${n.name}'s flannel`, async () => {
          const env = await Deno.readTextFile(
            topo.path(n, "/run/flannel/subnet.env"),
          ).catch(() => "");
          const conf = await Deno.stat(topo.path(n, CONFLIST)).then(
            () => true,
            () => false,
          );
          return conf ? env.match(/^FLANNEL_SUBNET=(\S+)/m)?.[1] : undefined;
        });
      await flannelUp(n3);
      await flannelUp(n4);
      await demo.cluster.addPod(n3, "n3-p1");
      await demo.cluster.addPod(n4, "n4-p1");
      const [p3, p4] = demo.pods;
      const podsTalk = async () =>
        summarize(
          await runChecks(demo.checks().filter((c) => c.kind === "pod-pod")),
        ).failures.map((f) => f.error);
      const tunnelFrom = (s: DemoNode, n: DemoNode) => async () => {
        const r = await demo.kubectl(
          s,
          "get",
          "--raw",
          `/api/v1/nodes/${n.name}/proxy/status`,
        );
        return r.code === 0 && r.stdout.includes(n.name) ? true : undefined;
      };
      await until(
        "pods talk",
        async () => (await podsTalk()).length === 0 ? true : undefined,
      );
      for (const s of [n1, n2]) {
        for (const n of [n3, n4]) {
          await until(
            `${s.name} reaches ${n.name} through its tunnel`,
            tunnelFrom(s, n),
          );
        }
      }

      // Probes pod to pod every 100 ms; a client writes through node1.
      const probeLog = `${demo.procs.logDir}/probe.log`;
      const probe = spawnLogged("probe", [
        "ip",
        "netns",
        "exec",
        p3.netns,
        Deno.execPath(),
        "run",
        "-A",
        new URL("./_ha_probe.ts", import.meta.url).pathname,
        p4.ip,
        String(RESPONDER_PORT),
        "100",
      ], probeLog);
      extra.push(probe);
      const writerLog = `${demo.procs.logDir}/writer.log`;
      const serverToken = (await Deno.readTextFile(
        topo.path(n1, "/var/lib/weft/server/token"),
      )).trim();
      const writer = spawnLogged("writer", [
        "ip",
        "netns",
        "exec",
        topo.underlay,
        Deno.execPath(),
        "run",
        "-A",
        new URL("./_ha_writer.ts", import.meta.url).pathname,
        `https://${n1.ip}:6443`,
        topo.path(n1, "/var/lib/weft/server/tls/server-ca.crt"),
        serverToken,
      ], writerLog);
      extra.push(writer);
      await until("probes and acknowledged writes", async () => {
        const p = (await lines(probeLog)).filter((l) => l === "ok").length;
        const w = (await lines(writerLog)).filter((l) => l.startsWith("acked"));
        return p >= 10 && w.length >= 20 ? true : undefined;
      });

      await demo.kill("node1 server");
      const killedAt = Date.now();

      // kubectl through the other server works.
      const got = await demo.kubectl(n2, "get", "nodes", "-o", "name");
      assertEquals(got.code, 0, got.stderr);
      assertEquals(got.stdout.trim().split("\n").sort(), [
        "node/node3",
        "node/node4",
      ]);
      await writer.stop(1000);
      // No acknowledged write is lost.
      const acked = (await lines(writerLog)).filter((l) =>
        l.startsWith("acked ")
      ).map((l) => l.slice(6));
      const pods = await demo.kubectl(
        n2,
        "get",
        "pods",
        "-n",
        "default",
        "-o",
        "name",
      );
      assertEquals(pods.code, 0, pods.stderr);
      const stored = new Set(
        pods.stdout.trim().split("\n").map((l) => l.replace("pod/", "")),
      );
      assertEquals(acked.filter((a) => !stored.has(a)), [], "acked writes");

      // A node joining after the kill gets its routes on every agent; the
      // agents' watches moved to node2.
      agent(n5, n2);
      const subnet5 = await flannelUp(n5);
      const podCidr5 = subnet5.replace(/\.1\/24$/, ".0/24");
      for (const n of [n3, n4]) {
        await until(`${n.name} routes ${podCidr5}`, async () => {
          const r = await exec([
            "ip",
            "-n",
            n.netns,
            "route",
            "show",
            podCidr5,
          ]);
          return r.stdout.includes("flannel.1") ? true : undefined;
        });
      }
      const rerouted = Date.now() - killedAt;
      console.log(`agents routed the new node ${rerouted} ms after the kill`);
      for (const n of [n3, n4, n5]) {
        await until(
          `node2 reaches ${n.name} through its tunnel`,
          tunnelFrom(n2, n),
        );
      }
      // The killed server's record expires with its lease: agents stop
      // trying it.
      await until("the server list without node1", async () => {
        const r = await demo.kubectl(n2, "get", "--raw", "/v1-weft/servers");
        return r.code === 0 &&
            JSON.parse(r.stdout).servers.join() === `https://${n2.ip}:6443`
          ? true
          : undefined;
      });

      // Pods kept talking throughout: at most one lost probe at 100 ms.
      await probe.stop(1000);
      const results = await lines(probeLog);
      const lost = results.filter((r) => r === "lost").length;
      assert(results.length >= 10, `only ${results.length} probes ran`);
      assert(lost <= 1, `${lost} of ${results.length} probes lost`);

      // One etcd member dies: nothing notices.
      await etcd.kill(2);
      const after = await demo.kubectl(n2, "get", "nodes", "-o", "name");
      assertEquals(after.code, 0, after.stderr);
      const label = await demo.kubectl(n2, "label", "node", "node3", "ha=ok");
      assertEquals(label.code, 0, label.stderr);
      await demo.cluster.addPod(n5, "n5-p1");
      await until(
        "pods talk with one etcd member down",
        async () => (await podsTalk()).length === 0 ? true : undefined,
      );
      const p5 = demo.pods[2];
      assertEquals(
        await tcpCheck(p3.netns, p5.ip, RESPONDER_PORT, p5.name, p3.ip),
        null,
      );
      for (const p of demo.procs.running) {
        assert(p.running, `${p.name} is running`);
      }
      passed = true;
    } catch (e) {
      await demo.printLogTails();
      throw e;
    } finally {
      for (const x of extra) await x.stop().catch(() => {});
      await demo.teardown(passed); // logs kept when the test failed
      if (etcd) await etcd[Symbol.asyncDispose]();
    }
  },
});

if (!haveEtcd()) {
  console.log(
    "HA e2e skipped: /usr/bin/etcd missing (apt-get install etcd-server)",
  );
}
