// A weft API server over TLS on 127.0.0.1 with the tunnel wired in (as the
// supervisor does), nodes in its store, and agents run in-process.

import {
  adminIdentity,
  type Identity,
  nodeIdentity,
} from "../../src/api/auth/mod.ts";
import { type ApiServer, startApiServer } from "../../src/api/mod.ts";
import type { Node, Pod } from "../../src/kube/mod.ts";
import { openSqliteStore, type Store } from "../../src/store/mod.ts";
import { ensureServerPKI } from "../../src/tls/mod.ts";
import {
  type EgressMode,
  runNodeEndpoint,
  runTunnelAgent,
  storeView,
  type TunnelAgentOptions,
  type TunnelServer,
  tunnelServer,
  type TunnelState,
} from "../../src/tunnel/mod.ts";

// src/api/_pump.ts (api owner) lets a client connection's read error go
// unhandled when a websocket client closes without TLS close_notify, which
// Deno's WebSocket client does; that would abort the whole test module (and
// a real server process). Reported to the api owner; until fixed, these
// tests log it instead of dying, and only for errors raised from _pump.ts.
globalThis.addEventListener("unhandledrejection", (e) => {
  const stack = String((e.reason as Error)?.stack ?? "");
  if (stack.includes("src/api/_pump.ts")) {
    console.log(`ignored api pump error: ${(e.reason as Error).message}`);
    e.preventDefault();
  }
});

export const ADMIN_TOKEN = "admin-token";
export const EGRESS = { "egress.k3s.io/cluster": "true" };
export const nodeToken = (name: string) => `node-token-${name}`;

export async function authenticate(req: Request): Promise<Identity | null> {
  await Promise.resolve();
  const m = req.headers.get("authorization")?.match(/^Bearer (\S+)$/);
  if (m?.[1] === ADMIN_TOKEN) return adminIdentity();
  const n = m?.[1].match(/^node-token-(.+)$/);
  return n ? nodeIdentity(n[1]) : null;
}

export function node(
  name: string,
  ip: string,
  podCIDR: string,
  labels: Record<string, string> = {},
): Node {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels },
    spec: { podCIDR, podCIDRs: [podCIDR] },
    status: { addresses: [{ type: "InternalIP", address: ip }] },
  } as Node;
}

export function pod(name: string, nodeName: string, ip: string): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default" },
    spec: { nodeName, containers: [{ name: "c", image: "x" }] },
    status: { podIP: ip, podIPs: [{ ip }] },
  } as Pod;
}

export interface Cluster extends AsyncDisposable {
  dir: string;
  caPem: string;
  caPath: string;
  url: string;
  port: number;
  store: Store;
  tunnel: TunnelServer;
  /** Direct dials the CONNECT proxy made ("host:port"). */
  direct: string[];
  kubeconfig: string;
  /** Stops the API server and the tunnel server (store kept). */
  stopServer(): Promise<void>;
  /** Starts them again on the same port. */
  startServer(): Promise<void>;
}

export async function cluster(opts: {
  mode: EgressMode;
  nodes: Node[];
  pods?: Pod[];
  nodeEndpointPort: number;
}): Promise<Cluster> {
  const dir = await Deno.makeTempDir({ prefix: "weft-tunnel-test-" });
  const pki = await ensureServerPKI({
    dataDir: dir,
    addresses: ["127.0.0.1"],
    hostname: "localhost",
  });
  const store = openSqliteStore(`${dir}/state.db`);
  for (const n of opts.nodes) {
    await store.create(
      `/registry/nodes/${n.metadata!.name}`,
      JSON.stringify(n),
    );
  }
  for (const p of opts.pods ?? []) {
    await store.create(
      `/registry/pods/default/${p.metadata!.name}`,
      JSON.stringify(p),
    );
  }
  const direct: string[] = [];
  let api: ApiServer | null = null;
  let port = 0;
  let tunnel!: TunnelServer;
  const start = async () => {
    tunnel = tunnelServer({
      authenticate,
      mode: opts.mode,
      ...storeView(store),
      nodeEndpointPort: opts.nodeEndpointPort,
      dial: (hostname, p) => {
        direct.push(`${hostname}:${p}`);
        return Deno.connect({ hostname, port: p });
      },
    });
    api = await startApiServer({
      store,
      authenticate,
      cert: pki.certPem,
      key: pki.keyPem,
      port,
      hostname: "127.0.0.1",
      upgrade: tunnel,
      nodeProxy: tunnel.nodeProxy,
      connect: tunnel.connect,
    });
    port = api.port;
    c.tunnel = tunnel;
  };
  const stop = async () => {
    tunnel.close();
    if (api) await within(api.close(), 30_000, () => "the API server to close");
    api = null;
  };
  const c: Cluster = {
    dir,
    caPem: pki.caPem,
    caPath: pki.caCertFile,
    url: "",
    port: 0,
    store,
    tunnel,
    direct,
    kubeconfig: `${dir}/kubeconfig`,
    stopServer: stop,
    startServer: start,
    async [Symbol.asyncDispose]() {
      await stop();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
  await start();
  c.port = port;
  c.url = `https://127.0.0.1:${port}`;
  await Deno.writeTextFile(
    c.kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "weft",
        cluster: { server: c.url, "certificate-authority": pki.caCertFile },
      }],
      users: [{ name: "admin", user: { token: ADMIN_TOKEN } }],
      contexts: [{ name: "weft", context: { cluster: "weft", user: "admin" } }],
      "current-context": "weft",
    }),
  );
  return c;
}

export interface RunningAgent extends AsyncDisposable {
  states: TunnelState[];
  /** Resolves once the first tunnel is up. */
  ready: Promise<void>;
  /** Resolves when the agent task returned. */
  stopped: Promise<void>;
}

/** Runs a tunnel agent for `name` against the cluster. */
export function startAgent(
  c: Cluster,
  name: string,
  o: Partial<TunnelAgentOptions> = {},
): RunningAgent {
  const ac = new AbortController();
  const ready = Promise.withResolvers<void>();
  const states: TunnelState[] = [];
  const stopped = runTunnelAgent({
    servers: [c.url],
    caPem: c.caPem,
    token: nodeToken(name),
    nodeName: name,
    mode: "agent",
    podCIDRs: [],
    clusterCIDRs: [],
    nodeIPs: [],
    backoffMs: { min: 20, max: 200 },
    onState: (_s, st) => states.push(st),
    ...o,
  }, { signal: ac.signal, ready: () => ready.resolve(), log: () => {} });
  stopped.catch((e) => ready.reject(e));
  return {
    states,
    // Bounded, so that an agent that never connects or never stops fails
    // its test with what it went through instead of hanging the suite.
    get ready() {
      return within(ready.promise, 60_000, () => `the agent ready (${states})`);
    },
    stopped,
    async [Symbol.asyncDispose]() {
      ac.abort();
      await within(stopped, 30_000, () => `the agent to stop (${states})`);
    },
  };
}

/** `p`, or an error naming what did not happen within `ms`. */
export async function within<T>(
  p: Promise<T>,
  ms: number,
  what: () => string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what()}`)),
      ms,
    );
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a node endpoint on 127.0.0.1 (free port) answering for `name`. */
export async function startNodeEndpoint(
  name: string,
): Promise<{ port: number } & AsyncDisposable> {
  const ac = new AbortController();
  const listening = Promise.withResolvers<number>();
  const done = runNodeEndpoint({
    port: 0,
    status: () => ({ nodeName: name, backend: "vxlan", tunnel: "connected" }),
    onListen: (a) => listening.resolve(a.port),
  }, { signal: ac.signal, ready: () => {}, log: () => {} });
  return {
    port: await listening.promise,
    async [Symbol.asyncDispose]() {
      ac.abort();
      await done;
    },
  };
}

/** An HTTP server on `host` (a loopback address standing in for a pod). */
export function podServer(host: string): { port: number } & AsyncDisposable {
  const s = Deno.serve(
    { hostname: host, port: 0, onListen() {} },
    () => new Response(`pod ${host}`),
  );
  return {
    port: s.addr.port,
    [Symbol.asyncDispose]: () => s.shutdown(),
  };
}

/** curl through the CONNECT proxy; returns exit code, body and stderr. */
export async function curlVia(
  c: Cluster,
  url: string,
  token: string | null = ADMIN_TOKEN,
): Promise<{ code: number; body: string; err: string }> {
  const args = [
    "-sS",
    "--max-time",
    "20",
    "--proxytunnel",
    "--proxy",
    c.url,
    "--proxy-cacert",
    c.caPath,
    url,
  ];
  if (token) args.push("--proxy-header", `Authorization: Bearer ${token}`);
  const out = await new Deno.Command("curl", {
    args,
    stderr: "piped",
    stdout: "piped",
  })
    .output();
  const d = new TextDecoder();
  return {
    code: out.code,
    body: d.decode(out.stdout),
    err: d.decode(out.stderr),
  };
}

/** A raw CONNECT; returns the status code and (for errors) the body. */
export async function rawConnect(
  c: Cluster,
  target: string,
  token: string | null = ADMIN_TOKEN,
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: c.port,
    caCerts: [c.caPem],
  });
  try {
    const auth = token ? `Authorization: Bearer ${token}\r\n` : "";
    await conn.write(
      new TextEncoder().encode(
        `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`,
      ),
    );
    let text = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
      if (text.startsWith("HTTP/1.1 200") && text.includes("\r\n\r\n")) break;
    }
    const status = Number(text.slice(9, 12));
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the server
    }
  }
}
