// The API on etcd (issue 13), on one Debian etcd-server member on loopback:
//  1. create latency through the API vs the raw etcd client doing the same
//     transaction (create-if-absent), and the ratio;
//  2. watch fan-out (one write -> every watcher notified) through the API's
//     HTTP watch vs raw etcd watches, and the ratio;
//  3. 1000 nodes joining (POST /api/v1/nodes, pod CIDR allocated) on etcd vs
//     on SQLite, and the ratio;
//  4. failover: two `weft server` processes on the etcd, agents' clients
//     (balancer + informer) on the first; kill -9 it; the time until every
//     client sees a write made through the second.

import { Etcd3 } from "etcd3";
import { createNodeIpam, startApiServer } from "../src/api/mod.ts";
import type { Identity } from "../src/api/auth/identity.ts";
import { Balancer, KubeClient } from "../src/kube/mod.ts";
import { openSqliteStore, openStore, type Store } from "../src/store/mod.ts";
import { ensureServerPKI } from "../src/tls/mod.ts";
import { EtcdCluster, freePort, haveEtcd } from "../test/harness/etcd.ts";

const TOKEN = "Bearer bench-admin";
const CREATES = 300;
const WATCHERS = 50;
const WRITES = 100;
const JOINS = 1000;
const AGENTS = 4;

const authenticate = (req: Request): Promise<Identity | null> =>
  Promise.resolve(
    req.headers.get("authorization") === TOKEN
      ? { user: "system:admin", groups: ["system:masters"] }
      : null,
  );

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const ms = (x: number) => `${x.toFixed(2)} ms`;

function node(name: string, podCIDR?: string) {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: { "kubernetes.io/hostname": name } },
    spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
  };
}

interface Api {
  url: string;
  client: Deno.HttpClient;
  close: () => Promise<void>;
}

async function api(store: Store, dir: string, ipam = false): Promise<Api> {
  const pki = await ensureServerPKI({
    dataDir: dir,
    addresses: ["127.0.0.1"],
    hostname: "localhost",
  });
  const server = await startApiServer({
    store,
    authenticate,
    ipam: ipam
      ? createNodeIpam(store, { clusterCidrs: "10.0.0.0/8" })
      : undefined,
    cert: pki.certPem,
    key: pki.keyPem,
    port: 0,
    hostname: "127.0.0.1",
  });
  const client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  return {
    url: `https://127.0.0.1:${server.port}`,
    client,
    close: async () => {
      client.close();
      await server.close();
    },
  };
}

async function post(a: Api, path: string, body: unknown): Promise<void> {
  const res = await fetch(a.url + path, {
    client: a.client,
    method: "POST",
    headers: { authorization: TOKEN, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await res.body?.cancel();
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status}`);
}

async function createBench(a: Api, raw: Etcd3) {
  const api: number[] = [];
  const peer: number[] = [];
  for (let i = 0; i < CREATES; i++) {
    const t0 = performance.now();
    await post(a, "/api/v1/nodes", node(`c-${i}`, `10.200.${i % 256}.0/24`));
    api.push(performance.now() - t0);
    const key = `/peer/nodes/c-${i}`;
    const value = JSON.stringify(node(`c-${i}`));
    const t1 = performance.now();
    await raw.if(key, "Mod", "==", 0).then(raw.put(key).value(value)).commit();
    peer.push(performance.now() - t1);
  }
  return { api, peer };
}

async function httpFanout(a: Api): Promise<number[]> {
  await post(a, "/api/v1/nodes", node("fan"));
  const seen = new Map<string, number>();
  const wake = new Map<string, (t: number) => void>();
  const ready: Promise<void>[] = [];
  const ac = new AbortController();
  const streams: ReadableStreamDefaultReader<string>[] = [];
  const readers = Array.from({ length: WATCHERS }, () => {
    let up!: () => void;
    ready.push(new Promise((r) => (up = r)));
    return (async () => {
      const res = await fetch(
        `${a.url}/api/v1/nodes?watch=1&fieldSelector=metadata.name%3Dfan`,
        {
          client: a.client,
          headers: { authorization: TOKEN },
          signal: ac.signal,
        },
      );
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      streams.push(reader);
      let buf = "";
      try {
        while (true) {
          const r = await reader.read();
          if (r.done) return;
          buf += r.value;
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const ev = JSON.parse(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
            if (ev.type === "ADDED") up();
            const v = ev.object.metadata.labels?.bench;
            if (!v) continue;
            const n = (seen.get(v) ?? 0) + 1;
            seen.set(v, n);
            if (n === WATCHERS) wake.get(v)?.(performance.now());
          }
        }
      } catch {
        // aborted at the end
      }
    })();
  });
  await Promise.all(ready);
  const lat: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const v = `w${i}`;
    const all = new Promise<number>((r) => wake.set(v, r));
    const t0 = performance.now();
    const res = await fetch(`${a.url}/api/v1/nodes/fan`, {
      client: a.client,
      method: "PATCH",
      headers: {
        authorization: TOKEN,
        "content-type": "application/merge-patch+json",
      },
      body: JSON.stringify({ metadata: { labels: { bench: v } } }),
    });
    await res.body?.cancel();
    lat.push((await all) - t0);
  }
  // Cancel the readers first: an abort alone may leave a read pending.
  await Promise.allSettled(streams.map((r) => r.cancel()));
  ac.abort();
  await Promise.allSettled(readers);
  return lat;
}

async function rawFanout(raw: Etcd3): Promise<number[]> {
  const key = "/peer/fan";
  await raw.put(key).value("0");
  const seen = new Map<string, number>();
  const wake = new Map<string, (t: number) => void>();
  const watchers = await Promise.all(
    Array.from({ length: WATCHERS }, () => raw.watch().key(key).create()),
  );
  for (const w of watchers) {
    w.on("put", (kv) => {
      const v = kv.value.toString();
      const n = (seen.get(v) ?? 0) + 1;
      seen.set(v, n);
      if (n === WATCHERS) wake.get(v)?.(performance.now());
    });
  }
  const lat: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const v = `w${i}`;
    const all = new Promise<number>((r) => wake.set(v, r));
    const t0 = performance.now();
    await raw.put(key).value(v);
    lat.push((await all) - t0);
  }
  await Promise.all(watchers.map((w) => w.cancel()));
  return lat;
}

async function joins(a: Api): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < JOINS) {
      const i = next++;
      await post(a, "/api/v1/nodes", node(`j-${String(i).padStart(4, "0")}`));
    }
  }));
  return performance.now() - t0;
}

function ratioLine(label: string, a: number[], b: number[]) {
  console.log(
    `  ${label} p50 ${(pct(a, 50) / pct(b, 50)).toFixed(1)}x  p99 ${
      (pct(a, 99) / pct(b, 99)).toFixed(1)
    }x`,
  );
}

async function failover(endpoint: string, dir: string): Promise<number> {
  const main = new URL("../main.ts", import.meta.url).pathname;
  const ports = [freePort(), freePort()];
  const spawn = (i: number) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "-q",
        main,
        "server",
        "--disable-agent",
        "--data-dir",
        `${dir}/s${i}`,
        "--https-listen-port",
        String(ports[i]),
        "--bind-address",
        "127.0.0.1",
        "--node-ip",
        "127.0.0.1",
        "--node-name",
        `s${i}`,
        "--write-kubeconfig",
        `${dir}/s${i}.yaml`,
        "--token",
        "bench-token",
        "--datastore-endpoint",
        endpoint,
      ],
      env: { WEFT_CONFIG_FILE: "" },
      stdout: "null",
      stderr: "null",
    }).spawn();
  const servers = [spawn(0)];
  const up = async (i: number) => {
    for (let t = 0; t < 200; t++) {
      const ok = await fetch(`https://127.0.0.1:${ports[i]}/healthz`, {
        client: Deno.createHttpClient({
          caCerts: [
            await Deno.readTextFile(`${dir}/s${i}/server/tls/server-ca.crt`)
              .catch(() => ""),
          ],
        }),
      }).then((r) => r.body?.cancel().then(() => r.ok), () => false)
        .catch(() => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`server ${i} did not start`);
  };
  await up(0);
  servers.push(spawn(1));
  await up(1);
  const caPem = await Deno.readTextFile(`${dir}/s0/server/tls/server-ca.crt`);
  const token = (await Deno.readTextFile(`${dir}/s0/server/token`)).trim();
  const urls = ports.map((p) => `https://127.0.0.1:${p}`);
  const ac = new AbortController();
  const seenAt: number[] = [];
  const clients = Array.from({ length: AGENTS }, (_, i) => {
    const b = new Balancer(urls[0]);
    b.update(urls);
    const c = new KubeClient({ server: urls[0], caPem, token, balancer: b });
    let want = "";
    const inf = c.informer("/api/v1/nodes", {
      updated: (o) => {
        if (want && o.metadata.labels?.failover === want) {
          seenAt[i] ??= performance.now();
        }
      },
    }, { signal: ac.signal, initialBackoffMs: 200 });
    return { c, inf, arm: (v: string) => (want = v) };
  });
  const admin = new KubeClient({ server: urls[1], caPem, token });
  await admin.create("/api/v1/nodes", node("fo"));
  await Promise.all(clients.map((x) => x.inf.synced));
  for (const x of clients) x.arm("yes");
  servers[0].kill("SIGKILL");
  await servers[0].status;
  const t0 = performance.now();
  await admin.patch("/api/v1/nodes/fo", {
    metadata: { labels: { failover: "yes" } },
  });
  while (seenAt.filter((t) => t).length < AGENTS) {
    if (performance.now() - t0 > 60_000) throw new Error("no failover in 60 s");
    await new Promise((r) => setTimeout(r, 20));
  }
  ac.abort();
  for (const x of clients) x.c.close();
  admin.close();
  servers[1].kill("SIGTERM");
  await servers[1].status;
  return Math.max(...seenAt) - t0;
}

if (!haveEtcd()) {
  console.log(
    "etcd bench skipped: /usr/bin/etcd missing (apt-get install etcd-server)",
  );
  Deno.exit(0);
}
const dir = await Deno.makeTempDir({ prefix: "weft-etcd-bench-" });
const etcd = await EtcdCluster.start();
const raw = new Etcd3({ hosts: etcd.members[0].clientUrl });
try {
  const store = await openStore(etcd.endpoint, { dataDir: dir });
  const a = await api(store, `${dir}/a`);
  const c = await createBench(a, raw);
  console.log(`create, ${CREATES} sequential (one Node each)`);
  console.log(
    `  weft API on etcd  p50 ${ms(pct(c.api, 50))}  p99 ${ms(pct(c.api, 99))}`,
  );
  console.log(
    `  raw etcd txn      p50 ${ms(pct(c.peer, 50))}  p99 ${
      ms(pct(c.peer, 99))
    }`,
  );
  ratioLine("ratio weft/raw   ", c.api, c.peer);
  const fw = await httpFanout(a);
  const fr = await rawFanout(raw);
  console.log(`watch fan-out, ${WATCHERS} watchers, ${WRITES} writes`);
  console.log(
    `  weft HTTP watch   p50 ${ms(pct(fw, 50))}  p99 ${ms(pct(fw, 99))}`,
  );
  console.log(
    `  raw etcd watch    p50 ${ms(pct(fr, 50))}  p99 ${ms(pct(fr, 99))}`,
  );
  ratioLine("ratio weft/raw   ", fw, fr);
  await a.close();
  store.close();

  await raw.delete().all(); // the join stage starts empty, as on SQLite
  const etcdStore = await openStore(etcd.endpoint, { dataDir: dir });
  const je = await api(etcdStore, `${dir}/je`, true);
  const tEtcd = await joins(je);
  await je.close();
  etcdStore.close();
  const sqlite = openSqliteStore(`${dir}/join.db`);
  const js = await api(sqlite, `${dir}/js`, true);
  const tSqlite = await joins(js);
  await js.close();
  sqlite.close();
  console.log(
    `${JOINS} nodes joining through the API (8 at a time, pod CIDR allocated)`,
  );
  console.log(`  on etcd    ${(tEtcd / 1000).toFixed(2)} s`);
  console.log(`  on SQLite  ${(tSqlite / 1000).toFixed(2)} s`);
  console.log(`  ratio etcd/SQLite ${(tEtcd / tSqlite).toFixed(1)}x`);

  const fo = await failover(etcd.endpoint, `${dir}/fo`);
  console.log(
    `failover: kill -9 of a server -> all ${AGENTS} agents' clients see a write through the other: ${
      (fo / 1000).toFixed(2)
    } s`,
  );
} finally {
  raw.close();
  await etcd[Symbol.asyncDispose]();
  await Deno.remove(dir, { recursive: true });
}
