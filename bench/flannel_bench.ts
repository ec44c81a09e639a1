// 1000 remote nodes appear at once: time until weft's flannel task has
// programmed all 1000 VXLAN leases (neighbour + FDB + route each = 3000
// operations), against iproute2 doing the same 3000 operations in batch mode
// (`ip -batch` for neighbours and routes, `bridge -batch` for FDB entries,
// process start included) as the floor. Then the latency of one more node
// joining when 1000 exist, against the three iproute2 commands for one lease.
//
// weft's side is the whole task: the node source delivers 1000 Node objects,
// the subnet manager turns them into leases, and the vxlan backend programs
// them through ffi/. It runs twice: with an in-memory node source (flannel's
// own cost) and through weft's API (SQLite store, HTTP on 127.0.0.1, the
// KubeClient informer; the 1000 Nodes are created with concurrent POSTs, so
// the API's write path is counted too). Each side runs in its own fresh
// namespace with the same flannel.1 shape.
//
// wireguard-native: the same number of peers appear at once on a
// wireguard-go device; weft's wireguard backend (one reconcile pass over its
// UAPI client) against `wg addconf` of a file holding every peer (process
// start included) as the floor; then one more peer: the backend's addLease
// against one `wg set`.

import { createApp } from "../src/api/mod.ts";
import { adminIdentity } from "../src/api/auth/mod.ts";
import { KubeClient } from "../src/kube/mod.ts";
import { openSqliteStore } from "../src/store/mod.ts";
import {
  type KubeNode,
  kubeNodeSource,
  type NodeSource,
  runFlannel,
} from "../src/flannel/mod.ts";
import { Netlink } from "../ffi/mod.ts";
import { CIDR, IP } from "../src/net/mod.ts";
import {
  type Lease,
  parseNetConf,
  selectInterface,
} from "../src/flannel/mod.ts";
import { WireguardBackend } from "../src/flannel/backend/wireguard.ts";
import {
  generatePrivateKey,
  publicKeyOf,
} from "../src/flannel/backend/wg_key.ts";
import { daemonPaths, startDaemon } from "../src/flannel/backend/wg_daemon.ts";
import { uapiGet } from "../src/flannel/backend/wg_uapi.ts";
import { Netns, run, sh } from "../test/harness/netns.ts";
import { FakeNodes, vxlanNode } from "../test/flannel/_fake_nodes.ts";
import { iproute2Batch, vethUplink, vxlanDevice } from "./_util.ts";

const NODES = Number(Deno.env.get("FLANNEL_BENCH_NODES") ?? 1000);
const ROUNDS = 3;

interface Peer {
  name: string;
  cidr: string;
  gw: string;
  mac: string;
  ip: string;
}

function peers(n: number, offset = 0): Peer[] {
  const hex = (x: number) => x.toString(16).padStart(2, "0");
  return Array.from({ length: n }, (_, k) => {
    const i = k + offset;
    const [hi, lo] = [i >> 8, i & 0xff];
    return {
      name: `peer-${i}`,
      cidr: `10.${100 + hi}.${lo}.0/24`,
      gw: `10.${100 + hi}.${lo}.0`,
      mac: `0a:58:00:00:${hex(hi)}:${hex(lo)}`,
      ip: `192.168.${10 + hi}.${lo}`,
    };
  });
}

async function uplink(ns: Netns): Promise<void> {
  await vethUplink(ns, "192.168.1.1/16", "p0");
  await ns.sh("ip", "route", "add", "default", "via", "192.168.1.254");
}

async function count(ns: Netns): Promise<number[]> {
  const n = async (...cmd: string[]) =>
    (await ns.json<unknown[]>(...cmd)).length;
  return [
    await n("ip", "-j", "route", "show", "dev", "flannel.1"),
    await n("ip", "-j", "neigh", "show", "dev", "flannel.1"),
    await n("bridge", "-j", "fdb", "show", "dev", "flannel.1"),
  ];
}

/** Where the Node objects live: put() them, and a NodeSource reading them. */
interface Nodes extends AsyncDisposable {
  source: NodeSource;
  put(nodes: KubeNode[]): Promise<void>;
}

function memoryNodes(): Nodes {
  const src = new FakeNodes();
  return {
    source: src,
    put: (nodes) => {
      for (const n of nodes) src.put(n);
      return Promise.resolve();
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
}

async function apiNodes(): Promise<Nodes> {
  const dir = await Deno.makeTempDir();
  const store = openSqliteStore(`${dir}/state.db`);
  const ac = new AbortController();
  const app = createApp({
    store,
    authenticate: () => Promise.resolve(adminIdentity()),
    signal: ac.signal,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    app.fetch,
  );
  const client = new KubeClient({
    server: `http://127.0.0.1:${server.addr.port}`,
  });
  const create = (n: KubeNode) =>
    client.create("/api/v1/nodes", { apiVersion: "v1", kind: "Node", ...n });
  return {
    source: kubeNodeSource(client),
    put: async (nodes) => {
      await Promise.all(nodes.map(create));
    },
    async [Symbol.asyncDispose]() {
      ac.abort();
      await server.finished;
      client.close();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function weftRound(
  makeNodes: () => Promise<Nodes> | Nodes,
): Promise<{ all: number; one: number; put: number }> {
  await using ns = await Netns.create("fb-weft");
  await uplink(ns);
  const dir = await Deno.makeTempDir();
  const ac = new AbortController();
  await using nodes = await makeNodes();
  try {
    await Deno.writeTextFile(
      `${dir}/net-conf.json`,
      `{"Network":"10.0.0.0/8"}`,
    );
    await nodes.put([
      { metadata: { name: "self" }, spec: { podCIDR: "10.1.0.0/24" } },
    ]);
    let added = 0;
    let wake: (() => void) | null = null;
    let target = Infinity;
    let ready!: () => void;
    const isReady = new Promise<void>((r) => ready = r);
    const task = runFlannel({
      nodeName: "self",
      nodes: nodes.source,
      dataDir: dir,
      runDir: `${dir}/run`,
      flannelConf: `${dir}/net-conf.json`,
      netns: ns.path,
      reconcileIntervalMs: 3_600_000,
      rulesIntervalMs: 3_600_000,
    }, {
      signal: ac.signal,
      ready,
      log: (m) => {
        if (Deno.env.get("FLANNEL_BENCH_DEBUG")) console.error(m);
        if (m.startsWith("lease added") && ++added >= target) wake?.();
      },
    });
    await isReady;
    const wait = (n: number) =>
      new Promise<void>((r) => {
        target = n;
        wake = r;
        if (added >= n) r();
      });

    const ps = peers(NODES);
    const t0 = performance.now();
    const done = wait(NODES);
    await nodes.put(ps.map((p) => vxlanNode(p.name, p.cidr, p.ip, p.mac)));
    const put = performance.now() - t0;
    await done;
    const all = performance.now() - t0;
    const got = await count(ns);
    if (got.some((c) => c !== NODES)) {
      throw new Error(`weft programmed ${got} entries, want ${NODES} each`);
    }

    const [extra] = peers(1, NODES);
    const t1 = performance.now();
    const one = wait(NODES + 1);
    await nodes.put([vxlanNode(extra.name, extra.cidr, extra.ip, extra.mac)]);
    await one;
    const oneMs = performance.now() - t1;
    ac.abort();
    await task;
    return { all, one: oneMs, put };
  } finally {
    ac.abort();
    await Deno.remove(dir, { recursive: true });
  }
}

async function ipRound(): Promise<{ all: number; one: number }> {
  await using ns = await Netns.create("fb-ip");
  await uplink(ns);
  await vxlanDevice(ns, "192.168.1.1", "10.1.0.0/32");
  const dir = await Deno.makeTempDir();
  try {
    const ps = peers(NODES);
    // flannel's order per lease is neighbour, FDB, route; batch mode groups
    // them per tool, which only helps the floor.
    const all = await iproute2Batch(
      ns,
      dir,
      ps.map((p) => ({ cidr: p.cidr, gw: p.gw, mac: p.mac, dst: p.ip })),
    );
    const got = await count(ns);
    if (got.some((c) => c !== NODES)) {
      throw new Error(`iproute2 programmed ${got} entries, want ${NODES} each`);
    }
    const [p] = peers(1, NODES);
    const t1 = performance.now();
    await sh(
      "ip",
      "-n",
      ns.name,
      "neigh",
      "replace",
      p.gw,
      "lladdr",
      p.mac,
      "dev",
      "flannel.1",
      "nud",
      "permanent",
    );
    await sh(
      "bridge",
      "-n",
      ns.name,
      "fdb",
      "replace",
      p.mac,
      "dev",
      "flannel.1",
      "dst",
      p.ip,
      "self",
      "permanent",
    );
    await sh(
      "ip",
      "-n",
      ns.name,
      "route",
      "replace",
      p.cidr,
      "via",
      p.gw,
      "dev",
      "flannel.1",
      "onlink",
    );
    const one = performance.now() - t1;
    return { all, one };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function best(xs: { all: number; one: number; put?: number }[]) {
  return {
    all: Math.min(...xs.map((x) => x.all)),
    one: Math.min(...xs.map((x) => x.one)),
    put: Math.min(...xs.map((x) => x.put ?? 0)),
  };
}

const memRuns = [];
const apiRuns = [];
const ipRuns = [];
for (let r = 0; r < ROUNDS; r++) {
  memRuns.push(await weftRound(memoryNodes));
  apiRuns.push(await weftRound(apiNodes));
  ipRuns.push(await ipRound());
}
const m = best(memRuns);
const a = best(apiRuns);
const i = best(ipRuns);
const f = (ms: number) => `${ms.toFixed(1)} ms`.padStart(10);
const x = (w: number) => `${(w / i.all).toFixed(2)}x`;
console.log(
  `${NODES} nodes appear at once (${NODES * 3} ops), best of ${ROUNDS}:`,
);
console.log(`  ip/bridge -batch (floor)        ${f(i.all)}`);
console.log(
  `  weft flannel task, in memory    ${f(m.all)}  ${x(m.all)} (goal <= 2x)`,
);
console.log(`  weft flannel task, via the API  ${f(a.all)}  ${x(a.all)}`);
console.log(
  `    (of which the ${NODES} concurrent POSTs to the API took ${
    f(a.put).trim()
  })`,
);
console.log(`one more node joining when ${NODES} exist:`);
console.log(`  ip + bridge + ip commands       ${f(i.one)}`);
console.log(
  `  weft flannel task, in memory    ${f(m.one)}  ${
    (m.one / i.one).toFixed(2)
  }x`,
);
console.log(
  `  weft flannel task, via the API  ${f(a.one)}  ${
    (a.one / i.one).toFixed(2)
  }x`,
);

// ---- wireguard-native ----

// No persistent keepalive on either side: with it, every new peer gets a
// handshake initiation at once, and 1000 initiations to endpoints that
// never answer ARP fill the daemon's UDP send buffer, which blocks its UAPI
// handler (that would time the benchmark's dead underlay, not the API).
const WG_CONF = parseNetConf(JSON.stringify({
  Network: "10.42.0.0/16",
  Backend: { Type: "wireguard" },
}));

interface WgPeer {
  key: string;
  cidr: string;
  ip: string;
}

async function wgPeers(n: number): Promise<WgPeer[]> {
  const out: WgPeer[] = [];
  for (const p of peers(n)) {
    out.push({
      key: await publicKeyOf(generatePrivateKey()),
      cidr: p.cidr,
      ip: p.ip,
    });
  }
  return out;
}

function wgLease(p: WgPeer): Lease {
  return {
    node: p.key,
    subnet: CIDR.parse(p.cidr),
    ipv6Subnet: null,
    publicIP: IP.parse(p.ip),
    publicIPv6: null,
    backendType: "wireguard",
    backendData: { PublicKey: p.key, Port: 51820 },
    backendV6Data: null,
  };
}

async function killPid(pid: number | null): Promise<void> {
  if (pid === null) return;
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  for (let k = 0; k < 100; k++) {
    try {
      await Deno.stat(`/proc/${pid}`);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function wgWeftRound(
  all: WgPeer[],
  extra: WgPeer,
): Promise<{ all: number; one: number }> {
  await using ns = await Netns.create("bench-wg");
  await uplink(ns);
  const dir = await Deno.makeTempDir({ prefix: "weft-bench-wg-" });
  using nl = Netlink.open({ netns: ns.path });
  const be = new WireguardBackend({
    nl,
    conf: WG_CONF,
    ext: selectInterface(nl, {}),
    log: () => {},
    runDir: dir,
    netns: ns.path,
  });
  try {
    await be.configure({ subnet: CIDR.parse("10.42.1.0/24") });
    const t0 = performance.now();
    await be.reconcile(all.map(wgLease));
    const allMs = performance.now() - t0;
    const t1 = performance.now();
    await be.addLease(wgLease(extra));
    const one = performance.now() - t1;
    const got = (await uapiGet(be.socket)).peers.length;
    if (got !== all.length + 1) {
      throw new Error(`weft programmed ${got} peers, not ${all.length + 1}`);
    }
    return { all: allMs, one };
  } finally {
    await killPid(await be.pid());
    await Deno.remove(dir, { recursive: true });
  }
}

async function wgToolRound(
  all: WgPeer[],
  extra: WgPeer,
): Promise<{ all: number; one: number }> {
  await using ns = await Netns.create("bench-wgt");
  await uplink(ns);
  const dir = await Deno.makeTempDir({ prefix: "weft-bench-wg-" });
  let pid: number | null = null;
  try {
    pid = await startDaemon({ dev: "flannel-wg", dir, netns: ns.path });
    const conf = `${dir}/peers.conf`;
    await Deno.writeTextFile(
      conf,
      `[Interface]\nPrivateKey = ${generatePrivateKey()}\nListenPort = 51820\n\n` +
        all.map((p) =>
          `[Peer]\nPublicKey = ${p.key}\nEndpoint = ${p.ip}:51820\n` +
          `AllowedIPs = ${p.cidr}\n`
        ).join("\n"),
    );
    const wg = (...args: string[]) =>
      run(["nsenter", "-t", String(pid), "-m", "-n", "wg", ...args]);
    const t0 = performance.now();
    const r = await wg("addconf", "flannel-wg", conf);
    const allMs = performance.now() - t0;
    if (r.code !== 0) throw new Error(`wg addconf: ${r.stderr}`);
    const t1 = performance.now();
    const r1 = await wg(
      "set",
      "flannel-wg",
      "peer",
      extra.key,
      "endpoint",
      `${extra.ip}:51820`,
      "allowed-ips",
      extra.cidr,
    );
    const one = performance.now() - t1;
    if (r1.code !== 0) throw new Error(`wg set: ${r1.stderr}`);
    const got =
      (await uapiGet(daemonPaths(dir, "flannel-wg").socket)).peers.length;
    if (got !== all.length + 1) {
      throw new Error(`wg programmed ${got} peers, not ${all.length + 1}`);
    }
    return { all: allMs, one };
  } finally {
    await killPid(pid);
    await Deno.remove(dir, { recursive: true });
  }
}

const wgAll = await wgPeers(NODES + 1);
const wgExtra = wgAll.pop()!;
const wgWeft = [];
const wgTool = [];
for (let r = 0; r < ROUNDS; r++) {
  wgWeft.push(await wgWeftRound(wgAll, wgExtra));
  wgTool.push(await wgToolRound(wgAll, wgExtra));
}
const ww = best(wgWeft);
const wt = best(wgTool);
console.log(
  `wireguard-native: ${NODES} peers appear at once on wireguard-go, best of ${ROUNDS}:`,
);
console.log(`  wg addconf (floor)              ${f(wt.all)}`);
console.log(
  `  weft wireguard backend (UAPI)   ${f(ww.all)}  ${
    (ww.all / wt.all).toFixed(2)
  }x`,
);
console.log(`one more peer when ${NODES} exist:`);
console.log(`  wg set                          ${f(wt.one)}`);
console.log(
  `  weft wireguard backend (UAPI)   ${f(ww.one)}  ${
    (ww.one / wt.one).toFixed(2)
  }x`,
);
