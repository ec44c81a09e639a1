// A node's agent side in its own process (its own metrics): the node
// endpoint and the tunnel agent, as `weft agent` runs them. Argument: JSON
// { server, caPem, token, nodeName, port }. Prints "ready" once the tunnel
// is up; stops on SIGTERM or when stdin closes.

import { exposerLoaded } from "../../src/metrics/mod.ts";
import { runNodeEndpoint, runTunnelAgent } from "../../src/tunnel/mod.ts";

const o = JSON.parse(Deno.args[0]) as {
  server: string;
  caPem: string;
  token: string;
  nodeName: string;
  port: number;
};
const ac = new AbortController();
Deno.addSignalListener("SIGTERM", () => ac.abort());
(async () => {
  for await (const _ of Deno.stdin.readable) { /* until EOF */ }
  ac.abort();
})();
const log = (m: string) => console.error(m);
const listening = Promise.withResolvers<void>();
const endpoint = runNodeEndpoint({
  port: o.port,
  host: "127.0.0.1",
  status: () => ({ nodeName: o.nodeName, promClientLoaded: exposerLoaded() }),
  onListen: () => listening.resolve(),
}, { signal: ac.signal, ready: () => {}, log });
await listening.promise;
const tunnel = runTunnelAgent({
  servers: [o.server],
  caPem: o.caPem,
  token: o.token,
  nodeName: o.nodeName,
  mode: "agent",
  podCIDRs: [],
  clusterCIDRs: [],
  nodeIPs: [],
  nodeEndpointPort: o.port,
  backoffMs: { min: 50, max: 500 },
}, { signal: ac.signal, ready: () => console.log("ready"), log });
await Promise.all([endpoint, tunnel]);
Deno.exit(0);
