// Debian's prometheus (2.42) scrapes a weft API server's /metrics and an
// agent's through the node proxy, with the metrics credential as bearer
// token; its HTTP API shows up == 1 and weft series; promtool checks both
// outputs; kubectl reads the agent's metrics and the tunnel events. The
// agent side runs in its own process (its own metrics); everything listens
// on 127.0.0.1 only.

import { assert, assertEquals } from "@std/assert";
import {
  createAuthenticator,
  ensureAdminToken,
  ensureMetricsToken,
  metricsTokenPath,
  nodeCredentials,
} from "../../src/api/auth/mod.ts";
import { startApiServer, storeEventSink } from "../../src/api/mod.ts";
import { EventRecorder } from "../../src/kube/mod.ts";
import { instrumentStore } from "../../src/metrics/mod.ts";
import { openSqliteStore } from "../../src/store/mod.ts";
import { ensureServerPKI } from "../../src/tls/mod.ts";
import {
  sessionEvents,
  storeView,
  tunnelServer,
} from "../../src/tunnel/mod.ts";

const PROMETHEUS = "/usr/bin/prometheus";
const PROMTOOL = "/usr/bin/promtool";
const KUBECTL = "/usr/bin/kubectl";
const have = async (p: string) =>
  await Deno.stat(p).then(() => true, () => false);
const missing = [];
for (const p of [PROMETHEUS, PROMTOOL, KUBECTL]) {
  if (!await have(p)) missing.push(p);
}
if (missing.length) {
  console.log(
    `skipping the prometheus test: ${
      missing.join(", ")
    } not installed (scripts/install.sh)`,
  );
}

const AGENT_MAIN = new URL("./_agent_main.ts", import.meta.url).pathname;
const NODE = "edge-a";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function run(cmd: string, args: string[], stdin?: string) {
  const p = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await p.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Polls `fn` until it returns a value (not undefined) or time runs out. */
async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  ms = 90_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}

Deno.test({
  name:
    "prometheus scrapes the server and an agent through the node proxy with the metrics token",
  ignore: missing.length > 0,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-t-metrics-" });
  const procs: Deno.ChildProcess[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  try {
    const pki = await ensureServerPKI({
      dataDir: dir,
      addresses: ["127.0.0.1"],
      hostname: "localhost",
    });
    const adminToken = await ensureAdminToken(dir);
    const metricsToken = await ensureMetricsToken(dir);
    const nodeToken = await nodeCredentials(dir).issue(NODE, "pw-edge-a");
    const store = instrumentStore(openSqliteStore(`${dir}/state.db`));
    cleanups.push(() => store.close());
    const authenticate = createAuthenticator({ dataDir: dir });
    const events = new EventRecorder(storeEventSink(store), {
      component: "weft-server",
    });
    cleanups.push(() => events.close());
    const endpointPort = freePort();
    const tunnel = tunnelServer({
      authenticate,
      mode: "agent",
      ...storeView(store),
      nodeEndpointPort: endpointPort,
      onSession: sessionEvents(events),
    });
    const api = await startApiServer({
      store,
      authenticate,
      events,
      cert: pki.certPem,
      key: pki.keyPem,
      port: 0,
      hostname: "127.0.0.1",
      upgrade: tunnel,
      nodeProxy: tunnel.nodeProxy,
      connect: tunnel.connect,
    });
    cleanups.push(async () => {
      tunnel.close();
      await api.close();
    });
    const server = `https://127.0.0.1:${api.port}`;
    const client = Deno.createHttpClient({ caCerts: [pki.caPem] });
    cleanups.push(() => client.close());
    const get = async (path: string, token: string) => {
      const r = await fetch(`${server}${path}`, {
        client,
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: r.status, text: await r.text() };
    };
    const created = await fetch(`${server}/api/v1/nodes`, {
      client,
      method: "POST",
      headers: {
        authorization: `Bearer ${adminToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ metadata: { name: NODE } }),
    });
    assertEquals(created.status, 201, await created.text());

    // The agent: its own process, node endpoint + tunnel.
    const agent = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "-q",
        AGENT_MAIN,
        JSON.stringify({
          server,
          caPem: pki.caPem,
          token: nodeToken,
          nodeName: NODE,
          port: endpointPort,
        }),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    procs.push(agent);
    const reader = agent.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let out = "";
    while (!out.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`agent exited before its tunnel was up`);
      out += value;
    }
    reader.releaseLock();
    agent.stdout.cancel().catch(() => {});

    // Not scraped yet: the agent has not loaded prom-client.
    const before = await until("the agent status", async () => {
      const r = await get(`/api/v1/nodes/${NODE}/proxy/status`, adminToken);
      return r.status === 200 ? JSON.parse(r.text) : undefined;
    });
    assertEquals(before.promClientLoaded, false);

    // Both outputs pass promtool, read with the metrics token.
    const serverText = await get("/metrics", metricsToken);
    assertEquals(serverText.status, 200);
    const agentText = await get(
      `/api/v1/nodes/${NODE}/proxy/metrics`,
      metricsToken,
    );
    assertEquals(agentText.status, 200, agentText.text);
    for (
      const [what, text] of [["server", serverText.text], [
        "agent",
        agentText.text,
      ]]
    ) {
      const check = await run(PROMTOOL, ["check", "metrics"], text);
      assertEquals(check.code, 0, `${what}: ${check.stdout}${check.stderr}`);
    }
    assert(serverText.text.includes("weft_apiserver_requests_total{"));
    assert(serverText.text.includes('weft_tunnel_sessions{side="server"} 1'));
    assert(
      serverText.text.includes("weft_store_operation_duration_seconds_bucket{"),
    );
    assert(agentText.text.includes('weft_tunnel_sessions{side="agent"} 1'));
    // The agent's own process: no API server series there.
    assert(!agentText.text.includes("weft_apiserver_requests_total{"));
    const after = JSON.parse(
      (await get(`/api/v1/nodes/${NODE}/proxy/status`, adminToken)).text,
    );
    assertEquals(after.promClientLoaded, true);
    // The metrics token reads nothing else.
    assertEquals((await get("/api/v1/nodes", metricsToken)).status, 403);
    assertEquals(
      (await get(`/api/v1/nodes/${NODE}/proxy/status`, metricsToken)).status,
      403,
    );

    // kubectl, as an operator with the metrics credential.
    const kubeconfig = `${dir}/metrics.kubeconfig`;
    await Deno.writeTextFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{
          name: "weft",
          cluster: { server, "certificate-authority": pki.caCertFile },
        }],
        users: [{ name: "m", user: { token: metricsToken } }, {
          name: "admin",
          user: { token: adminToken },
        }],
        contexts: [
          { name: "metrics", context: { cluster: "weft", user: "m" } },
          { name: "admin", context: { cluster: "weft", user: "admin" } },
        ],
        "current-context": "metrics",
      }),
    );
    const kubectl = (...args: string[]) =>
      new Deno.Command(KUBECTL, {
        args: ["--kubeconfig", kubeconfig, ...args],
        env: { HOME: dir, KUBECACHEDIR: `${dir}/kcache` },
        stdout: "piped",
        stderr: "piped",
      }).output().then((o) => ({
        code: o.code,
        stdout: new TextDecoder().decode(o.stdout),
        stderr: new TextDecoder().decode(o.stderr),
      }));
    const raw = await kubectl(
      "get",
      "--raw",
      `/api/v1/nodes/${NODE}/proxy/metrics`,
    );
    assertEquals(raw.code, 0, raw.stderr);
    assert(raw.stdout.includes("# TYPE weft_tunnel_bytes_total counter"));

    // A real prometheus on loopback, its own config and storage.
    const promPort = freePort();
    const config = `${dir}/prometheus.yml`;
    const job = (name: string, path: string) => `
  - job_name: ${name}
    scheme: https
    metrics_path: ${path}
    scrape_interval: 1s
    scrape_timeout: 1s
    tls_config:
      ca_file: ${pki.caCertFile}
    authorization:
      type: Bearer
      credentials_file: ${metricsTokenPath(dir)}
    static_configs:
      - targets: ["127.0.0.1:${api.port}"]`;
    await Deno.writeTextFile(
      config,
      `global:\n  scrape_interval: 1s\nscrape_configs:${
        job("weft-server", "/metrics")
      }${job("weft-agent", `/api/v1/nodes/${NODE}/proxy/metrics`)}\n`,
    );
    const checked = await run(PROMTOOL, ["check", "config", config]);
    assertEquals(checked.code, 0, checked.stdout + checked.stderr);
    const prom = new Deno.Command(PROMETHEUS, {
      args: [
        `--config.file=${config}`,
        `--storage.tsdb.path=${dir}/prom-data`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        "--log.level=warn",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    procs.push(prom);
    const query = async (q: string) => {
      const r = await fetch(
        `http://127.0.0.1:${promPort}/api/v1/query?query=${
          encodeURIComponent(q)
        }`,
      );
      const body = await r.json();
      return body.data.result as {
        metric: Record<string, string>;
        value: [number, string];
      }[];
    };
    const up = await until("up == 1 for both jobs", async () => {
      const rs = await query("up");
      const ones = rs.filter((r) => r.value[1] === "1").map((r) => r.metric.job)
        .sort();
      return ones.length === 2 ? ones : undefined;
    });
    assertEquals(up, ["weft-agent", "weft-server"]);
    const series = await until("weft series in prometheus", async () => {
      const rs = await query('weft_tunnel_sessions{side="agent"}');
      const srv = await query(
        'sum(weft_apiserver_requests_total{job="weft-server"})',
      );
      return rs.length && srv.length ? { rs, srv } : undefined;
    });
    assertEquals(series.rs[0].metric.job, "weft-agent");
    assertEquals(series.rs[0].value[1], "1");
    assert(Number(series.srv[0].value[1]) > 0);
    const mem = await query('process_resident_memory_bytes{job="weft-agent"}');
    assert(Number(mem[0]?.value[1]) > 0, JSON.stringify(mem));

    // The tunnel session as events, through kubectl.
    await events.flush();
    const evs = await kubectl("--context", "admin", "get", "events", "-A");
    assertEquals(evs.code, 0, evs.stderr);
    assert(evs.stdout.includes("TunnelConnected"), evs.stdout);
    const kevents = await kubectl("--context", "admin", "events", "-A");
    assertEquals(kevents.code, 0, kevents.stderr);
    assert(kevents.stdout.includes("TunnelConnected"), kevents.stdout);
    const described = await kubectl(
      "--context",
      "admin",
      "describe",
      "node",
      NODE,
    );
    assertEquals(described.code, 0, described.stderr);
    assert(described.stdout.includes("TunnelConnected"), described.stdout);
    // The agent goes away: TunnelDisconnected, a warning.
    agent.kill("SIGTERM");
    await agent.status;
    procs.splice(procs.indexOf(agent), 1);
    await until("TunnelDisconnected", async () => {
      await events.flush();
      const r = await kubectl(
        "--context",
        "admin",
        "get",
        "events",
        "-A",
        "--field-selector",
        "reason=TunnelDisconnected",
      );
      return r.stdout.includes("Warning") ? true : undefined;
    }, 30_000);
  } finally {
    for (const p of procs) {
      try {
        p.kill("SIGTERM");
      } catch {
        // already gone
      }
      await p.status;
    }
    for (const c of cleanups.reverse()) await c();
    await Deno.remove(dir, { recursive: true });
  }
});
