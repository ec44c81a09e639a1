// The agent's internal tasks, shared by `weft agent` and the local agent of
// `weft server`: join -> node registration -> flannel; CNI installer; tunnel
// agent; node endpoint. State the tasks hand each other lives in AgentState.

import { runFlannel } from "../flannel/mod.ts";
import { joinCluster, JoinError, type JoinResult } from "../kube/mod.ts";
// The agent side of the tunnel only: tunnel/mod.ts also carries the server
// side (hono, the API's auth), which an agent must not load.
import { runTunnelAgent, type TunnelState } from "../tunnel/agent.ts";
import { runNodeEndpoint } from "../tunnel/node_endpoint.ts";
import {
  sleep,
  type TaskContext,
  type TaskSpec,
  type TaskStatus,
  untilAborted,
} from "../supervisor/mod.ts";
import { type ClusterConfig, fetchClusterConfig } from "./cluster_config.ts";
import { runCniInstaller } from "./cni_install.ts";
import type { WeftConfig } from "./config.ts";
import { detectNodeIPs } from "./node_ip.ts";
import {
  countLeases,
  heartbeat,
  registerNode,
  waitForPodCIDR,
} from "./node_register.ts";

export interface AgentInput {
  cfg: WeftConfig;
  /** https://server:port */
  server: string;
  /** The join token (node token). */
  token: string;
  /** Readiness of all the process's tasks (for the node status). */
  status: () => TaskStatus[];
}

/** What the agent tasks learn and share. */
export class AgentState {
  join?: JoinResult;
  cluster?: ClusterConfig;
  podCIDRs: string[] = [];
  nodeIPs: string[] = [];
  /** Other nodes with a flannel lease (refreshed with the heartbeat). */
  leases: number | null = null;
  readonly tunnels = new Map<string, { state: TunnelState; why?: string }>();
  readonly startedAt = Date.now();

  requireJoin(): { join: JoinResult; cluster: ClusterConfig } {
    if (!this.join || !this.cluster) {
      throw new Error("the join task has not completed");
    }
    return { join: this.join, cluster: this.cluster };
  }
}

/** How often the join task checks that the server accepts the credential. */
const CREDENTIAL_CHECK_MS = 10_000;

/**
 * Returns when `signal` aborts; throws once the server answers 401 to the
 * node's credential (revoked by `weft token forget-node` or by deleting the
 * Node), so that the join task's restart joins again. An unreachable server
 * is not a rejection.
 */
async function credentialAccepted(
  client: JoinResult["client"],
  nodeName: string,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    await sleep(CREDENTIAL_CHECK_MS, signal);
    if (signal.aborted) return;
    const res = await client.raw(
      "GET",
      `/api/v1/nodes/${encodeURIComponent(nodeName)}`,
      { signal },
    ).catch(() => null);
    await res?.body?.cancel();
    if (res?.status === 401) {
      throw new JoinError(
        `the server no longer accepts the credential of ${nodeName} (401); joining again`,
      );
    }
  }
}

export function agentTasks(
  input: AgentInput,
  state = new AgentState(),
): TaskSpec[] {
  const { cfg } = input;
  const nodeName = cfg.nodeName;
  const joinTask: TaskSpec = {
    name: "join",
    run: async (ctx: TaskContext) => {
      const join = await joinCluster({
        server: input.server,
        token: input.token,
        nodeName,
        dataDir: cfg.dataDir,
        log: ctx.log,
      });
      state.join = join;
      state.cluster = await fetchClusterConfig(join.client);
      ctx.log(
        `joined ${input.server} as ${nodeName} (backend ${state.cluster.flannelBackend}, egress ${state.cluster.egressSelectorMode})`,
      );
      ctx.ready();
      await credentialAccepted(join.client, nodeName, ctx.signal);
      // Stopped: the tasks using the client depend on this one and stopped
      // first. (A rejected credential throws above and leaves the client
      // open: the tasks still holding it end on their own 401 and take the
      // new join when they restart.)
      join.client.close();
    },
  };
  const nodeTask: TaskSpec = {
    name: "node",
    deps: ["join"],
    run: async (ctx: TaskContext) => {
      const { join, cluster } = state.requireJoin();
      state.nodeIPs = cfg.nodeIP.length ? cfg.nodeIP : detectNodeIPs();
      await registerNode(join.client, {
        name: nodeName,
        internalIPs: state.nodeIPs,
        externalIPs: cfg.nodeExternalIP,
        egressMode: cluster.egressSelectorMode,
      }, ctx.signal);
      ctx.log(
        `registered node ${nodeName} (${
          state.nodeIPs.join(", ")
        }); waiting for its pod CIDR`,
      );
      state.podCIDRs = await waitForPodCIDR(join.client, nodeName, ctx.signal);
      ctx.log(`pod CIDR ${state.podCIDRs.join(", ")}`);
      ctx.ready();
      let last: boolean | undefined;
      while (true) {
        const ready = input.status().every((t) => t.ready || t.name === "node");
        if (ready !== last) ctx.log(`node ${ready ? "Ready" : "NotReady"}`);
        last = ready;
        await heartbeat(join.client, nodeName, ready);
        state.leases = await countLeases(join.client, nodeName);
        await sleep(last ? 20_000 : 2_000, ctx.signal);
        if (ctx.signal.aborted) return;
      }
    },
  };
  const cniTask: TaskSpec = {
    name: "cni",
    deps: ["join"],
    run: (ctx: TaskContext) =>
      runCniInstaller({
        dataDir: cfg.dataDir,
        backend: state.requireJoin().cluster.flannelBackend,
        flannelCniConf: cfg.flannelCniConf,
      }, ctx),
  };
  const flannelTask: TaskSpec = {
    name: "flannel",
    deps: ["node"],
    run: (ctx: TaskContext) => {
      const { join, cluster } = state.requireJoin();
      if (cluster.flannelBackend === "none") {
        ctx.log(
          "backend none: no overlay; the operator's CNI owns pod networking",
        );
        ctx.ready();
        return untilAborted(ctx.signal);
      }
      return runFlannel({
        nodeName,
        kube: join.client,
        dataDir: cfg.dataDir,
        backend: cluster.flannelBackend,
        clusterCIDRs: cluster.clusterCIDR,
        flannelConf: cfg.flannelConf,
        ipv6Masq: cluster.flannelIPv6Masq,
        iface: cfg.flannelIface,
        nodeIPs: state.nodeIPs,
        nodeExternalIPs: cfg.nodeExternalIP,
        flannelExternalIP: cluster.flannelExternalIP,
      }, ctx);
    },
  };
  const tunnelTask: TaskSpec = {
    name: "tunnel",
    deps: ["node"],
    run: (ctx: TaskContext) => {
      const { join, cluster } = state.requireJoin();
      return runTunnelAgent({
        servers: [input.server],
        caPem: join.caPem,
        // Read at every connect: a re-join (revoked credential) renews it.
        token: () => state.requireJoin().join.token,
        nodeName,
        mode: cluster.egressSelectorMode,
        podCIDRs: state.podCIDRs,
        clusterCIDRs: cluster.clusterCIDR,
        nodeIPs: state.nodeIPs,
        onState: (server, st, why) =>
          state.tunnels.set(server, { state: st, why }),
      }, ctx);
    },
  };
  const endpointTask: TaskSpec = {
    name: "node-endpoint",
    run: (ctx: TaskContext) =>
      runNodeEndpoint({
        status: () => ({
          nodeName,
          uptimeSeconds: Math.round((Date.now() - state.startedAt) / 1000),
          backend: state.cluster?.flannelBackend ?? null,
          podCIDRs: state.podCIDRs,
          nodeIPs: state.nodeIPs,
          leases: state.leases,
          tunnels: Object.fromEntries(state.tunnels),
          tasks: input.status(),
          // The process's memory (bytes): RSS and the V8 heap within it.
          memory: Deno.memoryUsage(),
        }),
      }, ctx),
  };
  return [joinTask, nodeTask, flannelTask, cniTask, tunnelTask, endpointTask];
}
