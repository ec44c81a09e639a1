// The agent's internal tasks, shared by `weft agent` and the local agent of
// `weft server`: join -> node registration -> flannel; CNI installer; tunnel
// agent; node endpoint. State the tasks hand each other lives in AgentState.

import { FlannelError, runFlannel } from "../flannel/mod.ts";
import {
  Balancer,
  type EventRecorder,
  JoinError,
  type JoinResult,
} from "../kube/mod.ts";
// The agent side of the tunnel only: tunnel/mod.ts also carries the server
// side (the API's auth), which an agent must not load.
import { runTunnelAgent, type TunnelState } from "../tunnel/agent.ts";
import { runNodeEndpoint } from "../tunnel/node_endpoint.ts";
import type {
  Logger,
  TaskContext,
  TaskSpec,
  TaskStatus,
} from "../supervisor/mod.ts";
import { sleep, untilAborted } from "../util/async.ts";
import { followServers, joinAny, loadSavedServers } from "./agent_servers.ts";
import { type ClusterConfig, fetchClusterConfig } from "./cluster_config.ts";
import {
  agentEvents,
  cniOperationSeen,
  flannelEvents,
} from "./agent_events.ts";
import { OPS_LOG } from "../cni/mod.ts";
import { watchOpsLog } from "./cni_ops.ts";
import { runCniInstaller } from "./cni_install.ts";
import type { WeftConfig } from "./config.ts";
import { detectNodeIPs, primaryFamily } from "./node_ip.ts";
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
  /** For the event recorder's complaints. */
  logger?: Logger;
}

/** What the agent tasks learn and share. */
export class AgentState {
  join?: JoinResult;
  cluster?: ClusterConfig;
  podCIDRs: string[] = [];
  nodeIPs: string[] = [];
  /** Other nodes with a flannel lease (refreshed with the heartbeat). */
  leases: number | null = null;
  /** The cluster's servers (client-side load balancing). */
  balancer?: Balancer;
  readonly tunnels = new Map<string, { state: TunnelState; why?: string }>();
  readonly startedAt = Date.now();
  /** Events on this node (agent_events.ts). */
  events?: EventRecorder;

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
  const events = agentEvents(state, nodeName, input.logger);
  const joinTask: TaskSpec = {
    name: "join",
    run: async (ctx: TaskContext) => {
      if (!state.balancer) {
        state.balancer = new Balancer(input.server);
        await loadSavedServers(cfg.dataDir, state.balancer);
      }
      const balancer = state.balancer;
      const join = await joinAny(balancer, {
        token: input.token,
        nodeName,
        dataDir: cfg.dataDir,
        log: ctx.log,
      });
      state.join = join;
      state.cluster = await fetchClusterConfig(join.client);
      ctx.log(
        `joined ${balancer.current()} as ${nodeName} (backend ${state.cluster.flannelBackend}, egress ${state.cluster.egressSelectorMode})`,
      );
      ctx.ready();
      await Promise.all([
        credentialAccepted(join.client, nodeName, ctx.signal),
        followServers(join.client, balancer, cfg.dataDir, ctx.signal),
      ]);
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
      state.nodeIPs = cfg.nodeIP.length
        ? cfg.nodeIP
        : detectNodeIPs({ primary: primaryFamily(cluster.clusterCIDR) });
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
        cniChain: cfg.cniChain,
      }, ctx),
  };
  // The plugins' thin clients hand their operations to this task over a
  // local socket (src/cni/server.ts); it also records the attached
  // containers as Pods (cni_pods.ts). Both are loaded when it starts.
  const cniSocketTask: TaskSpec = {
    name: "cni-socket",
    run: async (ctx: TaskContext) => {
      const { serveCniAndRecordPods } = await import("./cni_serve.ts");
      await serveCniAndRecordPods({
        nodeName,
        client: () => state.join?.client,
        nodeIPs: () => state.nodeIPs,
      }, ctx);
    },
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
        reconcileIntervalMs: envMs("WEFT_FLANNEL_RECONCILE_MS"),
        report: flannelEvents(events, nodeName),
      }, ctx);
    },
  };
  const tunnelTask: TaskSpec = {
    name: "tunnel",
    deps: ["node"],
    run: async (ctx: TaskContext) => {
      const { join, cluster } = state.requireJoin();
      const balancer = state.balancer!;
      // One tunnel per server (as K3s agents): a server that appears gets
      // one, one that goes away loses its own; the others are not touched.
      const running = new Map<string, AbortController>();
      const done: Promise<void>[] = [];
      const sync = (servers: string[]) => {
        for (const [server, stop] of running) {
          if (servers.includes(server)) continue;
          stop.abort();
          running.delete(server);
          state.tunnels.delete(server);
        }
        for (const server of servers) {
          if (running.has(server)) continue;
          const stop = new AbortController();
          running.set(server, stop);
          done.push(
            tunnelsTo([server], join, cluster, {
              ...ctx,
              signal: AbortSignal.any([ctx.signal, stop.signal]),
            }).catch((e) =>
              ctx.log(`tunnel to ${server}: ${(e as Error).message}`)
            ),
          );
        }
      };
      sync(balancer.learned);
      const off = balancer.onChange(sync);
      try {
        await untilAborted(ctx.signal);
      } finally {
        off();
        await Promise.all(done);
      }
    },
  };
  const tunnelsTo = (
    servers: string[],
    join: JoinResult,
    cluster: ClusterConfig,
    ctx: TaskContext,
  ) =>
    runTunnelAgent({
      servers,
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
  const netpolTask: TaskSpec = {
    name: "network-policy",
    deps: ["node"],
    run: async (ctx: TaskContext) => {
      const { join, cluster } = state.requireJoin();
      if (cluster.disableNetworkPolicy) {
        // Only the table's removal is loaded, not the controller.
        const { NetpolTable } = await import("../netpol/table.ts");
        await new NetpolTable().remove();
        ctx.log("network policy controller disabled; its nft table removed");
        ctx.ready();
        return untilAborted(ctx.signal);
      }
      // Ready at once: a server that does not serve NetworkPolicy yet must
      // not keep the node NotReady; the standby and the controller retry
      // and log. The controller is loaded with the cluster's first policy.
      ctx.ready();
      const { untilFirstPolicy } = await import("../netpol/standby.ts");
      await untilFirstPolicy({
        kube: join.client,
        signal: ctx.signal,
        log: ctx.log,
      });
      if (ctx.signal.aborted) return;
      ctx.log("a NetworkPolicy exists: starting the controller");
      const { runNetpolController } = await import("../netpol/controller.ts");
      await runNetpolController({
        kube: join.client,
        nodeName,
        nodeIPs: () => state.nodeIPs,
        podCIDRs: () => state.podCIDRs,
        signal: ctx.signal,
        log: ctx.log,
      });
    },
  };
  const cniOpsTask: TaskSpec = {
    name: "cni-ops",
    run: (ctx: TaskContext) => {
      ctx.ready();
      return watchOpsLog(
        OPS_LOG,
        (r) =>
          cniOperationSeen(events, nodeName, {
            ...r,
            seconds: r.ms / 1000,
            containerId: r.containerId ?? "",
          }),
        ctx.signal,
        ctx.log,
      );
    },
  };
  return [
    joinTask,
    nodeTask,
    flannelTask,
    cniTask,
    cniSocketTask,
    cniOpsTask,
    tunnelTask,
    endpointTask,
    netpolTask,
  ];
}

// WEFT_FLANNEL_RECONCILE_MS, read each time the flannel task starts (a bad
// value fails the task, as a FlannelError, and the supervisor retries it).
function envMs(name: string): number | undefined {
  let v: string | undefined;
  try {
    v = Deno.env.get(name);
  } catch {
    return undefined; // no env permission: the default applies
  }
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 100) {
    throw new FlannelError(
      `${name}=${v}: must be a whole number of milliseconds, at least 100`,
    );
  }
  return n;
}
