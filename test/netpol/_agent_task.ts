// Runs the agent's network-policy task (in the netns this process is in)
// with the cluster's --disable-network-policy setting from argv[0]
// ("true"/"false") until it reports ready, then stops it.

import { AgentState, agentTasks } from "../../src/cli/agent_tasks.ts";
import { resolveConfig } from "../../src/cli/config.ts";
import { clusterConfigOf } from "../../src/cli/cluster_config.ts";
import { KubeClient } from "../../src/kube/mod.ts";

const server = await resolveConfig({
  command: "server",
  args: Deno.args[0] === "true" ? ["--disable-network-policy"] : [],
  env: {},
  readFile: () => null,
});
const state = new AgentState();
state.cluster = clusterConfigOf(server);
const client = new KubeClient({ server: "https://127.0.0.1:1" });
state.join = {
  client,
  caPem: "",
  token: "",
  nodeName: "n1",
  caFile: "",
};
const task = agentTasks({
  cfg: { ...server, nodeName: "n1" },
  server: "https://127.0.0.1:1",
  token: "t",
  status: () => [],
}, state).find((t) => t.name === "network-policy")!;
const stop = new AbortController();
let ready!: () => void;
const isReady = new Promise<void>((r) => ready = r);
const run = task.run({
  signal: stop.signal,
  ready,
  log: (m) => console.log(m),
});
await isReady;
stop.abort();
await run;
client.close();
