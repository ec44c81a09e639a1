// `weft server`: the control plane - datastore, PKI and tokens, the API
// (with node IPAM, join routes, cluster settings) and the admin kubeconfig -
// plus, unless --disable-agent, the local agent's tasks in the same process.

import {
  createAuthenticator,
  ensureAdminToken,
  ensureMetricsToken,
  joinRoutes,
  writeAdminKubeconfig,
} from "../api/auth/mod.ts";
import { createNodeIpam, startApiServer, storeEventSink } from "../api/mod.ts";
import { SERVER_COMPONENT } from "../api/node_events.ts";
import { EventRecorder } from "../kube/mod.ts";
import { instrumentStore, monitorEventLoopLag } from "../metrics/mod.ts";
import { openStore, type Store } from "../store/mod.ts";
import {
  type Logger,
  stderrLogger,
  Supervisor,
  type TaskContext,
  type TaskSpec,
} from "../supervisor/mod.ts";
import { untilAborted } from "../util/async.ts";
import { httpsURL } from "../net/mod.ts";
import { ensureServerPKI, localAddresses, type ServerPKI } from "../tls/mod.ts";
import { writeFileAtomic } from "../util/fs.ts";
import {
  sessionEvents,
  storeView,
  tunnelServer,
  writeEgressSelectorConfig,
} from "../tunnel/mod.ts";
import { restartEvents } from "./agent_events.ts";
import { AgentState, agentTasks } from "./agent_tasks.ts";
import { clusterConfigOf, clusterConfigRoutes } from "./cluster_config.ts";
import { flagHelp, resolveConfig, type WeftConfig } from "./config.ts";
import { CommandError } from "./errors.ts";
import { detectNodeIPs, primaryFamily } from "./node_ip.ts";
import { readinessRoutes, tendMemory, tokenOf } from "./run.ts";
import { joinURL, joinURLFile, localServerURL } from "./server_url.ts";
import { clusterTasks, ServerSet, withSharedBootstrap } from "./server_ha.ts";

export const SERVER_HELP = `Usage: weft server [flags]

Runs the control plane (API on --https-listen-port, SQLite or etcd datastore, node
IPAM, join endpoints, egress tunnels) and, unless --disable-agent, this
node's agent. Flags can also come from the config file (same names as keys)
and from WEFT_* environment variables; flags win over both.

Flags:
${flagHelp("server")}`;

export async function serverCommand(
  args: string[],
  signal: AbortSignal,
): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(SERVER_HELP);
    return 0;
  }
  const cfg = await resolveConfig({ command: "server", args });
  return await runServer(cfg, signal);
}

async function openDatastore(cfg: WeftConfig): Promise<Store> {
  try {
    return await openStore(cfg.datastoreEndpoint, {
      dataDir: cfg.dataDir,
      caFile: cfg.datastoreCAFile,
      certFile: cfg.datastoreCertFile,
      keyFile: cfg.datastoreKeyFile,
    });
  } catch (e) {
    throw new CommandError(
      `cannot open the datastore: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** --node-ip, else the detected addresses (none when detection fails). */
function serverNodeIPs(cfg: WeftConfig): string[] {
  if (cfg.nodeIP.length) return cfg.nodeIP;
  try {
    return detectNodeIPs({ primary: primaryFamily(cfg.clusterCIDR) });
  } catch {
    return [];
  }
}

async function setupPKI(
  cfg: WeftConfig,
  nodeIPs: string[],
  log: (m: string) => void,
): Promise<ServerPKI> {
  const token = await tokenOf(cfg);
  const addresses = [
    ...new Set([
      ...nodeIPs,
      ...cfg.nodeExternalIP,
      ...(cfg.advertiseAddress ? [cfg.advertiseAddress] : []),
      ...localAddresses(),
    ]),
  ];
  return await ensureServerPKI({
    dataDir: cfg.dataDir,
    tlsSans: cfg.tlsSAN,
    addresses,
    token,
    log,
  });
}

/** Runs `weft server` until `signal` aborts; returns the exit code. */
export async function runServer(
  cfg: WeftConfig,
  signal: AbortSignal,
  logger: Logger = stderrLogger,
): Promise<number> {
  const log = (m: string) => logger("info", "server", m);
  const store = instrumentStore(await openDatastore(cfg));
  monitorEventLoopLag(signal);
  try {
    const nodeIPs = serverNodeIPs(cfg);
    const { pki, adminToken } = await withSharedBootstrap(
      store,
      cfg,
      log,
      async () => ({
        pki: await setupPKI(cfg, nodeIPs, log),
        adminToken: await ensureAdminToken(cfg.dataDir),
      }),
    );
    await ensureMetricsToken(cfg.dataDir);
    const port = cfg.httpsListenPort;
    const join = joinURL(cfg, nodeIPs, port);
    if (join) await writeFileAtomic(joinURLFile(cfg.dataDir), `${join}\n`);
    else await Deno.remove(joinURLFile(cfg.dataDir)).catch(() => {});
    const local = localServerURL(cfg, port);
    const servers = new ServerSet();
    await writeAdminKubeconfig({
      path: cfg.writeKubeconfig,
      mode: cfg.writeKubeconfigMode,
      server: local,
      caPem: pki.caPem,
      token: adminToken,
    });
    log(
      `admin kubeconfig written to ${cfg.writeKubeconfig}; agent token in ${pki.agentTokenFile}`,
    );
    const authenticate = createAuthenticator({ dataDir: cfg.dataDir });
    const events = new EventRecorder(storeEventSink(store), {
      component: SERVER_COMPONENT,
      log: (m) => logger("warn", "events", m),
    });
    const ipam = createNodeIpam(store, {
      clusterCidrs: cfg.clusterCIDR,
      log: (m) => logger("info", "ipam", m),
    });
    await writeEgressSelectorConfig(cfg.dataDir, cfg.egressSelectorMode, port);
    const apiTask: TaskSpec = {
      name: "api",
      run: async (ctx: TaskContext) => {
        const tunnel = tunnelServer({
          authenticate,
          mode: cfg.egressSelectorMode,
          ...storeView(store),
          localNode: cfg.disableAgent ? undefined : cfg.nodeName,
          log: (m) => logger("info", "tunnel-server", m),
          onSession: sessionEvents(events),
        });
        const api = await startApiServer({
          store,
          authenticate,
          events,
          ipam,
          connect: tunnel.connect,
          upgrade: tunnel,
          nodeProxy: tunnel.nodeProxy,
          cert: pki.certPem,
          key: pki.keyPem,
          port,
          hostname: cfg.bindAddress,
          // Requests still in flight at SIGTERM get 2 s, then are cut.
          shutdownGraceMs: 2000,
          extraRoutes: [
            (app) =>
              joinRoutes(app, { dataDir: cfg.dataDir, caPem: pki.caPem }),
            clusterConfigRoutes(clusterConfigOf(cfg), authenticate),
            readinessRoutes(() => sup.status(), authenticate),
            servers.routes(authenticate),
          ],
          ready: () => sup.ready,
          log: ctx.log,
        });
        ctx.log(
          `listening on ${
            api.hostnames.map((h) => httpsURL(h, api.port)).join(" and ")
          }`,
        );
        ctx.ready();
        await untilAborted(ctx.signal);
        tunnel.close();
        await api.close();
      },
    };
    const tasks: TaskSpec[] = [apiTask, ...clusterTasks(store, cfg, servers)];
    const agentState = new AgentState();
    if (!cfg.disableAgent) {
      const agent = agentTasks({
        cfg,
        server: local,
        token: pki.agentToken,
        status: () => sup.status(),
        logger,
      }, agentState);
      for (const t of agent) if (t.name === "join") t.deps = ["api"];
      tasks.push(...agent);
    }
    const sup = new Supervisor(tasks, {
      log: logger,
      onRestart: restartEvents(() => agentState.events, cfg.nodeName),
    });
    sup.start();
    const memory = tendMemory(sup, signal, logger, "server");
    await untilAborted(signal);
    await memory;
    log("stopping");
    await sup.stop();
    events.close();
    agentState.events?.close();
    return 0;
  } finally {
    store.close();
  }
}
