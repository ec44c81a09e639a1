// API benchmarks against the real TLS server on loopback:
//  1. watch fan-out: one writer, 200 HTTP watch streams; per write, the time
//     until every watcher has the event (p50/p99). Peer: the same fan-out
//     through the store's in-process watch (no HTTP/TLS/JSON framing).
//  2. list latency at 500 and at 5000 nodes and their ratio (goal: linear
//     or better, i.e. <= 10). Peer: the store's raw prefix list.

import { startApiServer } from "../src/api/mod.ts";
import type { Identity } from "../src/api/auth/identity.ts";
import { openSqliteStore, type Store } from "../src/store/mod.ts";
import { ensureServerPKI } from "../src/tls/mod.ts";

const WATCHERS = 200;
const WRITES = 200;
const TOKEN = "Bearer bench-admin";

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

const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

function nodeJson(i: number): string {
  const name = `node-${String(i).padStart(5, "0")}`;
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      uid: crypto.randomUUID(),
      creationTimestamp: "2026-01-01T00:00:00Z",
      generation: 1,
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "egress.k3s.io/cluster": "true",
      },
      annotations: {
        "flannel.alpha.coreos.com/backend-data":
          `{"VNI":1,"VtepMAC":"aa:bb:cc:dd:${(i >> 8) & 255}:${i & 255}"}`,
        "flannel.alpha.coreos.com/backend-type": "vxlan",
        "flannel.alpha.coreos.com/kube-subnet-manager": "true",
        "flannel.alpha.coreos.com/public-ip": `192.168.${(i >> 8) & 255}.${
          i & 255
        }`,
      },
    },
    spec: {
      podCIDR: `10.${(i >> 8) & 255}.${i & 255}.0/24`,
      podCIDRs: [`10.${(i >> 8) & 255}.${i & 255}.0/24`],
    },
    status: {
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady" }],
      addresses: [{
        type: "InternalIP",
        address: `192.168.${(i >> 8) & 255}.${i & 255}`,
      }, { type: "Hostname", address: name }],
      nodeInfo: {
        kubeletVersion: "v1.32.0+weft",
        osImage: "Debian GNU/Linux 12",
        kernelVersion: "6.1.0",
      },
    },
  });
}

async function fill(store: Store, from: number, to: number) {
  for (let i = from; i < to; i += 500) {
    const ops = [];
    for (let j = i; j < Math.min(to, i + 500); j++) {
      ops.push({
        type: "put" as const,
        key: `/registry/nodes/node-${String(j).padStart(5, "0")}`,
        value: nodeJson(j),
      });
    }
    await store.txn([], ops);
  }
}

async function watchFanout(url: string, client: Deno.HttpClient, store: Store) {
  await fill(store, 0, 1);
  const arrivals = new Map<string, number>();
  const allArrived = new Map<string, (t: number) => void>();
  const ready: Promise<void>[] = [];
  const ac = new AbortController();
  const readers: Promise<void>[] = [];
  const streams: ReadableStreamDefaultReader<string>[] = [];
  for (let w = 0; w < WATCHERS; w++) {
    let markReady!: () => void;
    ready.push(new Promise((r) => (markReady = r)));
    readers.push((async () => {
      const res = await fetch(`${url}/api/v1/nodes?watch=1&resourceVersion=0`, {
        client,
        headers: { authorization: TOKEN },
        signal: ac.signal,
      });
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
            if (ev.type === "ADDED") markReady();
            const v = ev.object.metadata.labels?.bench;
            if (v) {
              const n = (arrivals.get(v) ?? 0) + 1;
              arrivals.set(v, n);
              if (n === WATCHERS) allArrived.get(v)?.(performance.now());
            }
          }
        }
      } catch {
        // aborted at the end of the benchmark
      }
    })());
  }
  await Promise.all(ready);
  const lat: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const v = `w${i}`;
    const done = new Promise<number>((r) => allArrived.set(v, r));
    const t0 = performance.now();
    const res = await fetch(`${url}/api/v1/nodes/node-00000`, {
      client,
      method: "PATCH",
      headers: {
        authorization: TOKEN,
        "content-type": "application/merge-patch+json",
      },
      body: JSON.stringify({ metadata: { labels: { bench: v } } }),
    });
    await res.body?.cancel();
    lat.push((await done) - t0);
    arrivals.delete(v);
    allArrived.delete(v);
  }
  await Promise.allSettled(streams.map((r) => r.cancel()));
  ac.abort();
  await Promise.allSettled(readers);
  return lat;
}

async function storeFanout(store: Store) {
  const ac = new AbortController();
  const from = await store.revision();
  const arrivals = new Map<number, number>();
  const allArrived = new Map<number, (t: number) => void>();
  const done = Array.from({ length: WATCHERS }, async () => {
    for await (
      const ev of store.watch("/registry/nodes/", {
        fromRevision: from,
        signal: ac.signal,
      })
    ) {
      const n = (arrivals.get(ev.revision) ?? 0) + 1;
      arrivals.set(ev.revision, n);
      if (n === WATCHERS) allArrived.get(ev.revision)?.(performance.now());
    }
  });
  const lat: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    // The next write's revision is the store's revision + 1.
    const rev = (await store.revision()) + 1;
    const all = new Promise<number>((r) => allArrived.set(rev, r));
    const t0 = performance.now();
    await store.update("/registry/nodes/node-00000", nodeJson(0));
    lat.push((await all) - t0);
    allArrived.delete(rev);
    arrivals.delete(rev);
  }
  ac.abort();
  await Promise.allSettled(done);
  return lat;
}

async function listLatency(
  url: string,
  client: Deno.HttpClient,
  store: Store,
  runs: number,
) {
  const http: number[] = [];
  const raw: number[] = [];
  let count = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const res = await fetch(`${url}/api/v1/nodes`, {
      client,
      headers: { authorization: TOKEN },
    });
    count = (await res.json()).items.length;
    http.push(performance.now() - t0);
    const t1 = performance.now();
    await store.list("/registry/nodes/");
    raw.push(performance.now() - t1);
  }
  return { count, http: pct(http, 50), raw: pct(raw, 50) };
}

const dir = await Deno.makeTempDir({ prefix: "weft-api-bench-" });
try {
  const pki = await ensureServerPKI({
    dataDir: dir,
    addresses: ["127.0.0.1"],
    hostname: "localhost",
  });
  const store = openSqliteStore(`${dir}/state.db`);
  const server = await startApiServer({
    store,
    authenticate,
    cert: pki.certPem,
    key: pki.keyPem,
    port: 0,
    hostname: "127.0.0.1",
  });
  const client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const url = `https://127.0.0.1:${server.port}`;
  try {
    const weft = await watchFanout(url, client, store);
    const peer = await storeFanout(store);
    console.log(
      `watch fan-out, ${WATCHERS} watchers, ${WRITES} writes (write -> every watcher notified)`,
    );
    console.log(
      `  weft HTTP watch    p50 ${fmt(pct(weft, 50))}  p99 ${
        fmt(pct(weft, 99))
      }`,
    );
    console.log(
      `  peer store watch   p50 ${fmt(pct(peer, 50))}  p99 ${
        fmt(pct(peer, 99))
      }`,
    );
    console.log(
      `  ratio weft/peer    p50 ${
        (pct(weft, 50) / pct(peer, 50)).toFixed(1)
      }x  p99 ${(pct(weft, 99) / pct(peer, 99)).toFixed(1)}x`,
    );

    await fill(store, 1, 500);
    const small = await listLatency(url, client, store, 20);
    await fill(store, 500, 5000);
    const big = await listLatency(url, client, store, 10);
    console.log(`list nodes over HTTPS (median)`);
    console.log(
      `  weft  ${small.count} nodes ${fmt(small.http)}   ${big.count} nodes ${
        fmt(big.http)
      }   ratio ${(big.http / small.http).toFixed(1)}x (linear = 10x)`,
    );
    console.log(
      `  peer store list   ${fmt(small.raw)}   ${fmt(big.raw)}   ratio ${
        (big.raw / small.raw).toFixed(1)
      }x`,
    );
    console.log(`  weft/peer at 5000: ${(big.http / big.raw).toFixed(1)}x`);
  } finally {
    client.close();
    await server.close();
    store.close();
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
