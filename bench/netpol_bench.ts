// Network policy: how long a change (pod added, pod relabelled, policy added
// or removed) takes from the API to the node's nft table, p50/p99 with 200
// pods and 100 policies; what one change costs (nft commands, CPU) at two
// cluster sizes, to show it grows with the change and not the cluster; the
// same rules loaded whole (the peer: a full reload per change, as an
// iptables-restore based controller does); and TCP throughput between two
// pods with 50 policies in force vs none (iperf3 in the pods' namespaces).
//
// The controller runs in this process against an in-memory API server
// (test/netpol/_fake_api.ts) and programs a namespace of its own. CPU per
// change is this process's CPU plus its nft children's over the run,
// divided by the changes (the fake API's share is included).

import type { KubeClient, Pod } from "../src/kube/mod.ts";
import {
  compile,
  fullScript,
  type NetworkPolicy,
  podView,
  runNetpolController,
  type SyncReport,
} from "../src/netpol/mod.ts";
import { Nft } from "../src/net/netfilter/mod.ts";
import { Netns } from "../test/harness/netns.ts";
import {
  type FakeResourceApi,
  withFakeResourceApi,
} from "../test/netpol/_fake_api.ts";
import { PodNode } from "../test/netpol/_pods.ts";

const EVENTS = Number(Deno.env.get("NETPOL_BENCH_EVENTS") ?? 100);
const POLICIES = "/apis/networking.k8s.io/v1/networkpolicies";
const PODS = "/api/v1/pods";
const NAMESPACES = "/api/v1/namespaces";

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuMs(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime, stime, cutime, cstime (USER_HZ = 100)
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10;
}

function pod(i: number, app = `app${i % 20}`): Pod {
  const local = i % 2 === 0;
  return {
    metadata: { namespace: `ns${i % 10}`, name: `pod${i}`, labels: { app } },
    spec: {
      nodeName: local ? "n1" : "n2",
      containers: [{
        name: "c",
        ports: [{ name: "http", containerPort: 8080 }],
      }],
    },
    status: {
      phase: "Running",
      podIPs: [
        {
          ip: `10.${local ? 42 : 43}.${(i >> 1) >> 8}.${((i >> 1) & 255) + 2}`,
        },
        { ip: `fd00:${local ? 42 : 43}::${(i >> 1).toString(16)}:2` },
      ],
    },
  };
}

function policy(i: number): NetworkPolicy {
  const spec: NetworkPolicy["spec"] = {
    podSelector: { matchLabels: { app: `app${i % 20}` } },
    ingress: [{
      from: [
        { podSelector: { matchLabels: { app: `app${(i + 1) % 20}` } } },
        { namespaceSelector: { matchLabels: { team: `t${i % 3}` } } },
      ],
      ports: [{ port: 80 + (i % 5) }, { port: "http" }],
    }],
  };
  if (i % 4 === 0) {
    spec.egress = [{
      to: [{ ipBlock: { cidr: "10.0.0.0/8", except: ["10.1.0.0/16"] } }],
      ports: [{ protocol: "UDP", port: 53 }, { port: 1000, endPort: 2000 }],
    }];
  }
  return { metadata: { namespace: `ns${i % 10}`, name: `pol${i}` }, spec };
}

const KINDS = ["pod added", "pod relabelled", "policy added", "policy removed"];

interface Run {
  latency: number[];
  ops: number[];
  /** nft commands per change, by kind of change. */
  opsByKind: number[][];
  recompiled: number[];
  cpuPerChange: number;
  compileMs: number[];
  fullReloadMs: number;
  fullReloadOps: number;
}

async function runChanges(
  api: FakeResourceApi,
  client: KubeClient,
  pods: number,
  policies: number,
): Promise<Run> {
  await using host = await Netns.create("npb");
  for (let i = 0; i < 10; i++) {
    api.put(NAMESPACES, {
      metadata: { name: `ns${i}`, labels: { team: `t${i % 3}` } },
    });
  }
  for (let i = 0; i < pods; i++) api.put(PODS, pod(i));
  for (let i = 0; i < policies; i++) api.put(POLICIES, policy(i));
  let waiter: ((r: SyncReport) => void) | null = null;
  const stop = new AbortController();
  let loaded!: () => void;
  const ready = new Promise<void>((r) => loaded = r);
  const done = runNetpolController({
    kube: client,
    nodeName: "n1",
    nodeIPs: () => ["192.168.0.1"],
    podCIDRs: () => ["10.42.0.0/24"],
    netns: host.path,
    signal: stop.signal,
    log: () => {},
    ready: loaded,
    onSync: (r) => waiter?.(r),
  });
  await ready;
  const latency: number[] = [], ops: number[] = [], compileMs: number[] = [];
  const opsByKind: number[][] = KINDS.map(() => []);
  const recompiled: number[] = [];
  const cpu0 = cpuMs();
  let next = pods;
  for (let e = 0; e < EVENTS; e++) {
    const synced = new Promise<SyncReport | null>((resolve) => {
      waiter = resolve;
      setTimeout(() => resolve(null), 3000);
    });
    const t0 = performance.now();
    switch (e % 4) {
      case 0: // a new local pod
        api.put(PODS, pod(next++ * 2));
        break;
      case 1: // a local pod relabelled into another selector
        api.put(PODS, pod(2 * (e % (pods >> 1)), `app${(e * 7) % 20}x`));
        break;
      case 2: // a policy added
        api.put(POLICIES, policy(1000 + e));
        break;
      case 3: // and removed
        api.remove(POLICIES, `ns${(1000 + e - 1) % 10}`, `pol${1000 + e - 1}`);
        break;
    }
    const r = await synced;
    waiter = null;
    if (r) {
      latency.push(performance.now() - t0);
      ops.push(r.ops);
      opsByKind[e % 4].push(r.ops);
      recompiled.push(r.recompiled);
      compileMs.push(r.compileMs);
    }
    await sleep(20);
  }
  const cpuPerChange = (cpuMs() - cpu0) / EVENTS;
  stop.abort();
  await done;
  // The peer: the same rules loaded whole, as a full resync does.
  const want = compile({
    nodeName: "n1",
    nodeIPs: ["192.168.0.1", "10.42.0.1"],
    policies: [...api.objects.get(POLICIES)!.values()] as NetworkPolicy[],
    pods: [...api.objects.get(PODS)!.values()].map((p) => podView(p as Pod))
      .filter((p) => p !== null),
    namespaces: [],
  });
  const script = fullScript(want);
  const nft = new Nft({ netns: host.path });
  const reloads: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await nft.apply(script);
    reloads.push(performance.now() - t);
  }
  return {
    latency,
    ops,
    opsByKind,
    recompiled,
    cpuPerChange,
    compileMs,
    fullReloadMs: pct(reloads, 50),
    fullReloadOps: script.trimEnd().split("\n").length,
  };
}

const f = (ms: number) => `${ms.toFixed(1)} ms`;

async function changes(): Promise<void> {
  const runs: Record<string, Run> = {};
  for (const [pods, pols] of [[50, 25], [200, 100]]) {
    await withFakeResourceApi("npb", async (api, client) => {
      runs[`${pods}/${pols}`] = await runChanges(api, client, pods, pols);
    });
  }
  const big = runs["200/100"], small = runs["50/25"];
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(
    `change -> enforced (API write to nft table written), ${big.latency.length}/${EVENTS} changes, 200 pods / 100 policies:`,
  );
  console.log(`  weft p50                      ${f(pct(big.latency, 50))}`);
  console.log(
    `  weft p99                      ${
      f(pct(big.latency, 99))
    }   (goal <= 200 ms: ${pct(big.latency, 99) <= 200 ? "met" : "NOT met"})`,
  );
  console.log(
    `  peer: full reload of the same rules (${big.fullReloadOps} nft commands)  ${
      f(big.fullReloadMs)
    } per change   ratio full/incremental p50 ${
      (big.fullReloadMs / pct(big.latency, 50)).toFixed(2)
    }x`,
  );
  console.log(
    "cost of one change, 50 pods/25 policies vs 200 pods/100 policies:",
  );
  console.log(
    `  nft commands per change (mean) ${avg(small.ops).toFixed(1)} vs ${
      avg(big.ops).toFixed(1)
    }   ratio ${
      (avg(big.ops) / avg(small.ops)).toFixed(2)
    }  (full reload: ${small.fullReloadOps} vs ${big.fullReloadOps})`,
  );
  KINDS.forEach((k, i) =>
    console.log(
      `    ${k.padEnd(27)} ${avg(small.opsByKind[i]).toFixed(1)} vs ${
        avg(big.opsByKind[i]).toFixed(1)
      }`,
    )
  );
  console.log(
    `  policies compiled per change   ${
      avg(small.recompiled).toFixed(1)
    } of 25 vs ${avg(big.recompiled).toFixed(1)} of 100`,
  );
  console.log(
    `  CPU per change (process + nft) ${f(small.cpuPerChange)} vs ${
      f(big.cpuPerChange)
    }   ratio ${
      (big.cpuPerChange / Math.max(small.cpuPerChange, 0.1)).toFixed(2)
    }`,
  );
  console.log(
    `  compile (mean)                 ${f(avg(small.compileMs))} vs ${
      f(avg(big.compileMs))
    }   ratio ${(avg(big.compileMs) / avg(small.compileMs)).toFixed(2)}`,
  );
}

async function iperf(node: PodNode, from: number, to: number): Promise<number> {
  const server = node.pods[to];
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", server.ns.name, "iperf3", "-s", "-1", "-p", "5201"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await sleep(300);
    const r = await node.pods[from].ns.run([
      "iperf3",
      "-c",
      server.ip4,
      "-p",
      "5201",
      "-t",
      "2",
      "-J",
    ]);
    const doc = JSON.parse(r.stdout) as {
      end: { sum_received: { bits_per_second: number } };
    };
    return doc.end.sum_received.bits_per_second / 1e9;
  } finally {
    try {
      child.kill();
    } catch { /* exited */ }
    await child.status;
  }
}

async function throughput(): Promise<void> {
  await using node = await PodNode.create("npi");
  await node.add([
    { name: "client", namespace: "x", labels: { app: "client" }, serve: false },
    { name: "server", namespace: "x", labels: { app: "server" }, serve: false },
  ]);
  const { NetpolTable } = await import("../src/netpol/mod.ts");
  const table = new NetpolTable({ netns: node.host.path });
  table.bridgeNetfilter();
  // 50 policies select the server; only the last admits the client.
  const many: NetworkPolicy[] = Array.from({ length: 50 }, (_, i) => ({
    metadata: { namespace: "x", name: `p${i}` },
    spec: {
      podSelector: { matchLabels: { app: "server" } },
      ingress: [{
        from: [{
          podSelector: {
            matchLabels: { app: i === 49 ? "client" : `other${i}` },
          },
        }],
        ports: [{ port: 5201 }],
      }],
    },
  }));
  const load = (policies: NetworkPolicy[]) =>
    table.sync(compile({
      nodeName: "n1",
      nodeIPs: ["10.22.0.1"],
      policies,
      pods: node.views("n1"),
      namespaces: [],
    }));
  const none: number[] = [], fifty: number[] = [];
  for (let round = 0; round < 5; round++) {
    await load([]);
    none.push(await iperf(node, 0, 1));
    await load(many);
    fifty.push(await iperf(node, 0, 1));
  }
  const best = (xs: number[]) => pct(xs, 50);
  const all = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(" ");
  console.log(
    "TCP throughput between two pods on one node (iperf3, 2 s, median of 5 alternating runs):",
  );
  console.log(
    `  no policy                     ${best(none).toFixed(2)} Gbit/s   (runs: ${
      all(none)
    })`,
  );
  console.log(
    `  50 policies in force          ${
      best(fifty).toFixed(2)
    } Gbit/s   (runs: ${all(fifty)})`,
  );
  console.log(
    `  ratio                         ${
      (best(fifty) / best(none)).toFixed(3)
    } (goal >= 0.95)`,
  );
}

await changes();
await throughput();
