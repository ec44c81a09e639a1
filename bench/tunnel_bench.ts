// Tunnel benchmarks on loopback, weft beside its peer:
//  1. throughput of one stream and of 16 concurrent streams: a client sends
//     through CONNECT on the API server's TLS port -> websocket session ->
//     agent -> a TCP sink; peer: the same bytes on a direct TCP connection
//     to the sink.
//     A second peer, "direct TLS", is the fair one for the CONNECT path
//     (whose client speaks TLS to the API and whose agent speaks TLS to it):
//     a TLS connection over the same path, i.e. through a plain TCP relay in
//     the server's place (this process, a JS copy loop as the API's front
//     listener is) and one in the agent's place (its own process, as the
//     agent is) to a TLS sink (goal: one stream >= 0.8 of direct TLS). The
//     peer of earlier runs, without the agent's hop, is printed too ("TLS
//     no hop"): it skips the crossing into and out of a second process that
//     every tunnelled byte pays, so it is not the same path.
//  2. time to open a stream (CONNECT until "200"), peers: a TCP connect and
//     a TLS connect over the same path (goal: <= 1.5x direct TLS).
//  3. CPU time per GiB of one stream, weft (this process and the agent's)
//     and direct TLS (this process and the hop's): unlike throughput, not
//     skewed by a busy machine.

import {
  adminIdentity,
  type Identity,
  nodeIdentity,
} from "../src/api/auth/mod.ts";
import { cpuUsage } from "node:process";
import { startApiServer } from "../src/api/mod.ts";
import { setListenerNoDelay } from "../ffi/mod.ts";
import { openSqliteStore } from "../src/store/mod.ts";
import { ensureServerPKI } from "../src/tls/mod.ts";
import {
  runTunnelAgent,
  storeView,
  type TunnelServer,
  tunnelServer,
} from "../src/tunnel/mod.ts";

const MiB = 1024 * 1024;
const ONE = 512 * MiB;
const MANY = 16;
const EACH = 64 * MiB;
const OPENS = 200;
const ROUNDS = 5;

const authenticate = (req: Request): Promise<Identity | null> => {
  const h = req.headers.get("authorization");
  return Promise.resolve(
    h === "Bearer admin"
      ? adminIdentity()
      : h === "Bearer node-a"
      ? nodeIdentity("a")
      : null,
  );
};

async function writeAll(c: Deno.Conn, b: Uint8Array) {
  for (let off = 0; off < b.length;) off += await c.write(b.subarray(off));
}

/** The first byte a client sends to download instead (0x44, "D"). */
const DOWN = 0x44;

// A sink reads each connection to EOF, then answers one byte; a connection
// that starts with DOWN is sent ONE bytes instead (its client closes).
function serveSink(l: AsyncIterable<Deno.Conn>): void {
  (async () => {
    for await (const c of l) {
      (async () => {
        const buf = new Uint8Array(256 * 1024);
        const n = await c.read(buf);
        if (n !== null && buf[0] === DOWN) {
          const chunk = new Uint8Array(256 * 1024);
          for (let sent = 0; sent < ONE; sent += chunk.length) {
            await writeAll(c, chunk);
          }
          while ((await c.read(buf)) !== null);
          c.close();
          return;
        }
        while (n !== null && (await c.read(buf)) !== null);
        await writeAll(c, new Uint8Array([1]));
        c.close();
      })().catch(() => {});
    }
  })().catch(() => {});
}

const sink = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const sinkPort = (sink.addr as Deno.NetAddr).port;
serveSink(sink);

const dir = await Deno.makeTempDir({ prefix: "weft-tunnel-bench-" });
const pki = await ensureServerPKI({
  dataDir: dir,
  addresses: ["127.0.0.1"],
  hostname: "localhost",
});

// The "direct TLS" peer: a TLS sink (same contract as the sink) behind a
// plain TCP relay.
const tlsSink = Deno.listenTls({
  hostname: "127.0.0.1",
  port: 0,
  cert: pki.certPem,
  key: pki.keyPem,
});
const tlsSinkPort = (tlsSink.addr as Deno.NetAddr).port;
serveSink(tlsSink);
async function copy(from: Deno.Conn, to: Deno.Conn) {
  const buf = new Uint8Array(256 * 1024);
  for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
    await writeAll(to, buf.subarray(0, n));
  }
  await to.closeWrite();
}
/** A plain TCP relay in this process to `port`; its listener. */
function relayTo(port: number): Deno.TcpListener {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const c of l) {
      (async () => {
        const up = await Deno.connect({ hostname: "127.0.0.1", port });
        await Promise.all([copy(c, up), copy(up, c)]);
        c.close();
        up.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  return l;
}
// The agent's hop: the same relay in its own process, in front of the TLS
// sink (a tunnelled byte goes into the agent's process and out again).
const hopCode = `
const port = Number(Deno.args[0]);
async function copy(from, to) {
  const buf = new Uint8Array(256 * 1024);
  for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
    for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
  }
  await to.closeWrite();
}
const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(l.addr.port);
for await (const c of l) {
  (async () => {
    const up = await Deno.connect({ hostname: "127.0.0.1", port });
    await Promise.all([copy(c, up), copy(up, c)]);
    c.close();
    up.close();
  })().catch(() => {});
}
`;
const hopProc = new Deno.Command(Deno.execPath(), {
  args: ["eval", hopCode, String(tlsSinkPort)],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const hopOut = hopProc.stdout.pipeThrough(new TextDecoderStream())
  .getReader();
let hopPort = 0;
for (let seen = ""; !hopPort;) {
  const { value, done } = await hopOut.read();
  if (done) throw new Error("the relay process exited before its port");
  seen += value;
  if (seen.includes("\n")) hopPort = Number(seen.trim());
}
const relay = relayTo(hopPort);
const relayNoHop = relayTo(tlsSinkPort);
const tlsVia = (l: Deno.TcpListener) => async (): Promise<Deno.Conn> => {
  const tcp = await Deno.connect({
    hostname: "127.0.0.1",
    port: (l.addr as Deno.NetAddr).port,
  });
  tcp.setNoDelay(true);
  const c = await Deno.startTls(tcp, {
    hostname: "127.0.0.1",
    caCerts: [pki.caPem],
  });
  await c.handshake();
  return c;
};
const directTls = tlsVia(relay);
const directTlsNoHop = tlsVia(relayNoHop);
const store = openSqliteStore(`${dir}/state.db`);
await store.create(
  "/registry/nodes/a",
  JSON.stringify({
    kind: "Node",
    metadata: { name: "a" },
    status: { addresses: [{ type: "InternalIP", address: "127.0.0.2" }] },
  }),
);
const tunnel = tunnelServer({
  authenticate,
  mode: "agent",
  ...storeView(store),
  nodeEndpointPort: sinkPort,
});
const api = await startApiServer({
  store,
  authenticate,
  cert: pki.certPem,
  key: pki.keyPem,
  port: 0,
  hostname: "127.0.0.1",
  upgrade: tunnel,
  connect: tunnel.connect,
});
// The same tunnel endpoint on a bare TLS listener (no API front), to
// separate the tunnel's cost from the front listener's.
const tunnel2 = tunnelServer({
  authenticate,
  mode: "agent",
  ...storeView(store),
  nodeEndpointPort: sinkPort,
});
const direct2 = Deno.listenTls({
  hostname: "127.0.0.1",
  port: 0,
  cert: pki.certPem,
  key: pki.keyPem,
});
const direct2Port = (direct2.addr as Deno.NetAddr).port;
// As the API server does for its listener: accepted sockets get TCP_NODELAY.
setListenerNoDelay(direct2Port);
(async () => {
  for await (const c of direct2) {
    (async () => {
      const b = new Uint8Array(16 * 1024);
      let n = 0;
      let end = -1;
      while (end < 0) {
        const r = await c.read(b.subarray(n));
        if (r === null) return;
        n += r;
        end = new TextDecoder().decode(b.subarray(0, n)).indexOf("\r\n\r\n");
      }
      const head = new TextDecoder().decode(b.subarray(0, end));
      await tunnel2.upgrade(c, head, b.slice(end + 4, n));
    })().catch(() => {}).finally(() => {
      try {
        c.close();
      } catch {
        // closed
      }
    });
  }
})().catch(() => {});

const ac = new AbortController();
const up = Promise.withResolvers<void>();
const up2 = Promise.withResolvers<void>();
const agentOpts = {
  caPem: pki.caPem,
  token: "node-a",
  nodeName: "a",
  mode: "agent" as const,
  podCIDRs: [],
  clusterCIDRs: [],
  nodeIPs: [],
  nodeEndpointPort: sinkPort,
};
const agent2 = runTunnelAgent(
  { ...agentOpts, servers: [`https://127.0.0.1:${direct2Port}`] },
  { signal: ac.signal, ready: () => up2.resolve(), log: () => {} },
);
// The agent of the CONNECT path runs in its own process, as on a real node.
const agentCode = `
import { runTunnelAgent } from ${
  JSON.stringify(new URL("../src/tunnel/mod.ts", import.meta.url).href)
};
const o = JSON.parse(Deno.args[0]);
const ac = new AbortController();
Deno.addSignalListener("SIGTERM", () => ac.abort());
await runTunnelAgent(o, {
  signal: ac.signal,
  ready: () => console.log("READY"),
  log: () => {},
});
`;
const agentProc = new Deno.Command(Deno.execPath(), {
  args: [
    "eval",
    agentCode,
    JSON.stringify({
      ...agentOpts,
      servers: [`https://127.0.0.1:${api.port}`],
    }),
  ],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const agentOut = agentProc.stdout.pipeThrough(new TextDecoderStream())
  .getReader();
for (let seen = ""; !seen.includes("READY");) {
  const { value, done } = await agentOut.read();
  if (done) throw new Error("the agent process exited before READY");
  seen += value;
}
up.resolve();
await up.promise;
await up2.promise;

/** Bytes through one stream opened with the session API (no CONNECT). */
async function viaSession(t: TunnelServer, bytes: number): Promise<number> {
  const t0 = performance.now();
  const st = await t.sessions.get("a")!.open(`127.0.0.1:${sinkPort}`);
  const chunk = new Uint8Array(256 * 1024);
  for (let sent = 0; sent < bytes; sent += chunk.length) await st.write(chunk);
  st.closeWrite();
  if ((await st.read())?.length !== 1) throw new Error("no ack from the sink");
  return bytes / MiB / ((performance.now() - t0) / 1000);
}

async function viaTunnel(): Promise<Deno.Conn> {
  // As curl does: TCP_NODELAY on the client socket (Deno.TlsConn has no
  // setNoDelay, so set it on the TCP socket before starting TLS).
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port: api.port });
  tcp.setNoDelay(true);
  const c = await Deno.startTls(tcp, {
    hostname: "127.0.0.1",
    caCerts: [pki.caPem],
  });
  await writeAll(
    c,
    new TextEncoder().encode(
      `CONNECT a:${sinkPort} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer admin\r\n\r\n`,
    ),
  );
  let head = "";
  const b = new Uint8Array(1024);
  while (!head.includes("\r\n\r\n")) {
    const n = await c.read(b);
    if (n === null) throw new Error("proxy closed");
    head += new TextDecoder().decode(b.subarray(0, n));
  }
  if (!head.startsWith("HTTP/1.1 200")) throw new Error(head.split("\r\n")[0]);
  return c;
}
const direct = () => Deno.connect({ hostname: "127.0.0.1", port: sinkPort });

async function send(
  open: () => Promise<Deno.Conn>,
  bytes: number,
): Promise<void> {
  const c = await open();
  const chunk = new Uint8Array(256 * 1024);
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    await writeAll(c, chunk);
  }
  await c.closeWrite();
  const ack = new Uint8Array(1);
  if ((await c.read(ack)) !== 1) throw new Error("no ack from the sink");
  c.close();
}

/** MiB/s of ONE bytes downloaded through one connection. */
async function download(open: () => Promise<Deno.Conn>): Promise<number> {
  const t0 = performance.now();
  const c = await open();
  await writeAll(c, new Uint8Array([DOWN]));
  const buf = new Uint8Array(256 * 1024);
  let got = 0;
  while (got < ONE) {
    const n = await c.read(buf);
    if (n === null) throw new Error(`download ended after ${got} bytes`);
    got += n;
  }
  const s = (performance.now() - t0) / 1000;
  c.close();
  return ONE / MiB / s;
}

async function rate(
  streams: number,
  bytes: number,
  open: () => Promise<Deno.Conn>,
) {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: streams }, () => send(open, bytes)));
  const s = (performance.now() - t0) / 1000;
  return (streams * bytes) / MiB / s;
}

async function openTime(open: () => Promise<Deno.Conn>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < OPENS; i++) {
    const t0 = performance.now();
    const c = await open();
    xs.push(performance.now() - t0);
    c.close();
  }
  return xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

const row = (
  what: string,
  weft: number,
  peer: number,
  unit: string,
  peerName = "direct",
) =>
  console.log(
    `${what.padEnd(34)} weft ${weft.toFixed(1).padStart(8)} ${unit}   ${
      peerName.padStart(10)
    } ${peer.toFixed(1).padStart(8)} ${unit}   ratio ${
      (weft / peer).toFixed(2)
    }`,
  );

/** The median of `rounds` interleaved runs of each measure (the machine
 * may be shared: interleaving spreads its load over weft and its peers). */
async function interleaved(
  rounds: number,
  measures: (() => Promise<number>)[],
): Promise<number[]> {
  const runs: number[][] = measures.map(() => []);
  for (let i = 0; i < rounds; i++) {
    for (const [j, m] of measures.entries()) runs[j].push(await m());
  }
  return runs.map((xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]);
}

/** CPU time (ms) this process and process `pid` spent in `fn`. */
async function cpuOf(pid: number, fn: () => Promise<unknown>) {
  const otherMs = () => {
    const f = Deno.readTextFileSync(`/proc/${pid}/stat`)
      .split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
  };
  const m0 = cpuUsage();
  const a0 = otherMs();
  await fn();
  const m = cpuUsage(m0);
  return { main: (m.user + m.system) / 1000, other: otherMs() - a0 };
}

try {
  await rate(1, 16 * MiB, viaTunnel); // warm-up
  await rate(1, 16 * MiB, direct);
  await rate(1, 16 * MiB, directTls);
  await rate(1, 16 * MiB, directTlsNoHop);
  const [one, oneDirect, oneTls, oneNoHop] = await interleaved(ROUNDS, [
    () => rate(1, ONE, viaTunnel),
    () => rate(1, ONE, direct),
    () => rate(1, ONE, directTls),
    () => rate(1, ONE, directTlsNoHop),
  ]);
  row("1 stream throughput", one, oneDirect, "MiB/s");
  row("1 stream throughput (goal)", one, oneTls, "MiB/s", "direct TLS");
  row("1 stream throughput", one, oneNoHop, "MiB/s", "TLS no hop");
  // The other way: the agent masks what it sends (RFC 6455 client frames).
  await download(viaTunnel);
  await download(directTls);
  const [down, downTls] = await interleaved(ROUNDS, [
    () => download(viaTunnel),
    () => download(directTls),
  ]);
  row("1 stream download", down, downTls, "MiB/s", "direct TLS");
  const many = await rate(MANY, EACH, viaTunnel);
  row(
    `${MANY} streams throughput (total)`,
    many,
    await rate(MANY, EACH, direct),
    "MiB/s",
  );
  row(
    `${MANY} streams throughput (total)`,
    many,
    await rate(MANY, EACH, directTls),
    "MiB/s",
    "direct TLS",
  );
  row(
    "1 stream, session API, no front",
    await viaSession(tunnel2, ONE),
    await rate(1, ONE, direct),
    "MiB/s",
  );
  const [tOpen, tDirect, tTls, tNoHop] = await interleaved(ROUNDS, [
    () => openTime(viaTunnel),
    () => openTime(direct),
    () => openTime(directTls),
    () => openTime(directTlsNoHop),
  ]);
  const opened = (what: string, peerName: string, peer: number) =>
    console.log(
      `${what.padEnd(34)} weft ${tOpen.toFixed(3).padStart(8)} ms    ${
        peerName.padStart(10)
      } ${peer.toFixed(3).padStart(8)} ms      ratio ${
        (tOpen / peer).toFixed(1)
      }x`,
    );
  opened("open a stream (p50)", "direct", tDirect);
  opened("open a stream (p50, goal)", "direct TLS", tTls);
  opened("open a stream (p50)", "TLS no hop", tNoHop);
  // CPU time per GiB moved through one stream: independent of what else
  // the machine runs. weft's path has three TLS passes (client, front,
  // websocket) in this process and one in the agent's; direct TLS has two
  // here and none in the hop's.
  const perGiB = (ms: number) => (ms * 1024 * MiB / ONE).toFixed(0);
  const w = await cpuOf(agentProc.pid, () => rate(1, ONE, viaTunnel));
  const t = await cpuOf(hopProc.pid, () => rate(1, ONE, directTls));
  console.log(
    `${"CPU per GiB, 1 stream".padEnd(34)} weft ${perGiB(w.main)} ms here + ${
      perGiB(w.other)
    } ms agent   direct TLS ${perGiB(t.main)} ms here + ${
      perGiB(t.other)
    } ms hop   ratio (here) ${(t.main / w.main).toFixed(2)}, (both) ${
      ((t.main + t.other) / (w.main + w.other)).toFixed(2)
    }`,
  );
  console.log(
    "(weft: client -TLS-> CONNECT -> wss session -> agent process -> TCP; direct: TCP;",
  );
  console.log(
    "direct TLS: client -TLS-> TCP relay -> relay process -> TLS sink; TLS no hop: without",
  );
  console.log(
    `the relay process; medians of ${ROUNDS} interleaved runs)`,
  );
} finally {
  ac.abort();
  hopProc.kill("SIGTERM");
  await hopOut.cancel();
  await hopProc.status;
  agentProc.kill("SIGTERM");
  await agentOut.cancel();
  await agentProc.status;
  await agent2;
  tunnel.close();
  tunnel2.close();
  direct2.close();
  await api.close();
  sink.close();
  relay.close();
  relayNoHop.close();
  tlsSink.close();
  store.close();
  await Deno.remove(dir, { recursive: true });
}
