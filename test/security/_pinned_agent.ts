// Runs as its own process (the test gives it DENO_CERT): tries the three
// agent -> server connections against one server URL with the cluster CA
// pinned, and prints one JSON line of what happened.
//
// args: <server url> <cluster CA file> <join token> <node token> <data dir>

import { joinCluster, KubeClient } from "../../src/kube/mod.ts";
import { runTunnelAgent } from "../../src/tunnel/mod.ts";

const [url, caFile, joinToken, nodeToken, dataDir] = Deno.args;
const caPem = await Deno.readTextFile(caFile);
const out: Record<string, string> = {};
const why = (e: unknown) => (e instanceof Error ? e.message : String(e));

// Control: Deno's default store (with DENO_CERT) trusts the server.
try {
  const r = await fetch(`${url}/cacerts`);
  out.defaultStore = `trusted (${r.status})`;
  await r.body?.cancel();
} catch (e) {
  out.defaultStore = `refused: ${why(e)}`;
}

try {
  await joinCluster({
    server: url,
    token: joinToken,
    nodeName: "victim",
    dataDir,
    passwordFile: `${dataDir}/password`,
  });
  out.join = "joined";
} catch (e) {
  out.join = `refused: ${why(e)}`;
}

try {
  using c = new KubeClient({ server: url, caPem, token: nodeToken });
  await c.get("/api/v1/nodes/victim");
  out.client = "answered";
} catch (e) {
  out.client = `refused: ${why(e)}`;
}

const states: string[] = [];
const ac = new AbortController();
const run = runTunnelAgent({
  servers: [url],
  caPem,
  token: nodeToken,
  nodeName: "victim",
  mode: "agent",
  podCIDRs: [],
  clusterCIDRs: [],
  nodeIPs: [],
  backoffMs: { min: 10, max: 20 },
  onState: (_s, st, w) => states.push(w ? `${st}: ${w}` : st),
}, { signal: ac.signal, ready: () => {}, log: () => {} });
const end = Date.now() + 10_000;
while (states.filter((s) => s.startsWith("waiting")).length < 2) {
  if (Date.now() > end || states.includes("connected")) break;
  await new Promise((r) => setTimeout(r, 10));
}
ac.abort();
await run;
out.tunnel = states.includes("connected")
  ? "connected"
  : `refused: ${states.find((s) => s.startsWith("waiting")) ?? "no attempt"}`;
console.log(JSON.stringify(out));
