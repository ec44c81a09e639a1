// `weft agent`: joins a server and runs the node's tasks - registration,
// flannel, CNI installation, the tunnel agent and the node endpoint.

import { type Logger, stderrLogger, Supervisor } from "../supervisor/mod.ts";
import { untilAborted } from "../util/async.ts";
import { monitorEventLoopLag } from "../metrics/mod.ts";
import { restartEvents } from "./agent_events.ts";
import { AgentState, agentTasks } from "./agent_tasks.ts";
import { flagHelp, resolveConfig, type WeftConfig } from "./config.ts";
import { tendMemory, tokenOf } from "./run.ts";

export const AGENT_HELP =
  `Usage: weft agent --server https://<server>:6443 --token <token> [flags]

Joins the server (checking its CA against the token), registers this node and
runs its network: flannel, the CNI plugins and conflist, the egress tunnel
and the node endpoint. The token is in the server's
<data-dir>/server/agent-token (or "weft token show" there).

Flags:
${flagHelp("agent")}`;

export async function agentCommand(
  args: string[],
  signal: AbortSignal,
): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(AGENT_HELP);
    return 0;
  }
  const cfg = await resolveConfig({ command: "agent", args });
  return await runAgent(cfg, signal);
}

export async function runAgent(
  cfg: WeftConfig,
  signal: AbortSignal,
  logger: Logger = stderrLogger,
): Promise<number> {
  const token = await tokenOf(cfg);
  const state = new AgentState();
  const tasks = agentTasks({
    cfg,
    server: cfg.server!,
    token: token!,
    status: () => sup.status(),
    logger,
  }, state);
  const sup = new Supervisor(tasks, {
    log: logger,
    onRestart: restartEvents(() => state.events, cfg.nodeName),
  });
  monitorEventLoopLag(signal);
  sup.start();
  const memory = tendMemory(sup, signal, logger, "agent");
  await untilAborted(signal);
  await memory;
  logger("info", "agent", "stopping");
  await sup.stop();
  state.events?.close();
  return 0;
}
