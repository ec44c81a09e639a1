// A process for the namespace test, run inside a namespace with
// `ip netns exec`: `server <mode> <ip> <dir>`, `agent <mode> <server-url>
// <ca-file> <node-ip> <pod-cidr>` or `pod <ip> <port>`. Prints "READY ..."
// once serving (the server adds its port) and runs until killed.

import { startApiServer } from "../../src/api/mod.ts";
import { openSqliteStore } from "../../src/store/mod.ts";
import { ensureServerPKI } from "../../src/tls/mod.ts";
import {
  checkMode,
  runNodeEndpoint,
  runTunnelAgent,
  storeView,
  tunnelServer,
} from "../../src/tunnel/mod.ts";
import { authenticate, EGRESS, node, nodeToken } from "./_cluster.ts";

const [role, ...args] = Deno.args;
const ctx = (ready: () => void) => ({
  signal: new AbortController().signal,
  ready,
  log: (m: string) => console.error(m),
});

if (role === "server") {
  const [mode, ip, dir] = args;
  const pki = await ensureServerPKI({
    dataDir: dir,
    addresses: [ip],
    hostname: "localhost",
  });
  await Deno.writeTextFile(`${dir}/ca.pem`, pki.caPem);
  const store = openSqliteStore(`${dir}/state.db`);
  await store.create(
    "/registry/nodes/agt",
    JSON.stringify(node("agt", "10.77.0.2", "10.42.5.0/24", EGRESS)),
  );
  const tunnel = tunnelServer({
    authenticate,
    mode: checkMode(mode),
    ...storeView(store),
  });
  const api = await startApiServer({
    store,
    authenticate,
    cert: pki.certPem,
    key: pki.keyPem,
    port: 0,
    hostname: ip,
    upgrade: tunnel,
    nodeProxy: tunnel.nodeProxy,
    connect: tunnel.connect,
  });
  console.log(`READY ${api.port}`);
} else if (role === "agent") {
  const [mode, url, caFile, nodeIP, podCIDR] = args;
  runNodeEndpoint(
    { status: () => ({ nodeName: "agt" }) },
    ctx(() => {}),
  ).catch((e) => console.error(e));
  await runTunnelAgent({
    servers: [url],
    caPem: await Deno.readTextFile(caFile),
    token: nodeToken("agt"),
    nodeName: "agt",
    mode: checkMode(mode),
    nodeIPs: [nodeIP],
    podCIDRs: [podCIDR],
    clusterCIDRs: ["10.42.0.0/16"],
  }, ctx(() => console.log("READY")));
} else if (role === "pod") {
  const [ip, port] = args;
  Deno.serve(
    { hostname: ip, port: Number(port), onListen: () => console.log("READY") },
    () => new Response(`pod ${ip}`),
  );
} else {
  throw new TypeError(`unknown role ${JSON.stringify(role)}`);
}
