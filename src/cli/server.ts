// `weft server`: the control plane — datastore, PKI and tokens, the API
// (with node IPAM, join routes, cluster settings) and the admin kubeconfig —
// plus, unless --disable-agent, the local agent's tasks in the same process.

import {
  createAuthenticator,
  ensureAdminToken,
  joinRoutes,
  runNodeCredentialJanitor,
  writeAdminKubeconfig,
} from "../api/auth/mod.ts";
import { createNodeIpam, startApiServer } from "../api/mod.ts";
import { defaultStorePath, openSqliteStore, type Store } from "../store/mod.ts";
import {
  type Logger,
  stderrLogger,
  Supervisor,
  type TaskContext,
  type TaskSpec,
  untilAborted,
} from "../supervisor/mod.ts";
import { ensureServerPKI, localAddresses, type ServerPKI } from "../tls/mod.ts";
import {
  storeView,
  tunnelServer,
  writeEgressSelectorConfig,
} from "../tunnel/mod.ts";
import { agentTasks } from "./agent_tasks.ts";
import { clusterConfigOf, clusterConfigRoutes } from "./cluster_config.ts";
import { flagHelp, resolveConfig, type WeftConfig } from "./config.ts";
import { CommandError } from "./errors.ts";
import { detectNodeIPs } from "./node_ip.ts";
import { readinessRoutes, tendMemory, tokenOf } from "./run.ts";

export const SERVER_HELP = `Usage: weft server [flags]

Runs the control plane (API on --https-listen-port, SQLite datastore, node
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

function openStore(cfg: WeftConfig): Store {
  const path = cfg.datastoreEndpoint
    ? cfg.datastoreEndpoint.slice("sqlite://".length)
    : defaultStorePath(cfg.dataDir);
  try {
    return openSqliteStore(path);
  } catch (e) {
    throw new CommandError(
      `cannot open the datastore ${path}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

async function setupPKI(
  cfg: WeftConfig,
  log: (m: string) => void,
): Promise<ServerPKI> {
  let nodeIPs = cfg.nodeIP;
  if (nodeIPs.length === 0) {
    try {
      nodeIPs = detectNodeIPs();
    } catch {
      nodeIPs = [];
    }
  }
  const token = await tokenOf(cfg);
  const addresses = [
    ...new Set([...nodeIPs, ...cfg.nodeExternalIP, ...localAddresses()]),
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
  const store = openStore(cfg);
  try {
    const pki = await setupPKI(cfg, log);
    const adminToken = await ensureAdminToken(cfg.dataDir);
    const port = cfg.httpsListenPort;
    await writeAdminKubeconfig({
      path: cfg.writeKubeconfig,
      mode: cfg.writeKubeconfigMode,
      server: `https://127.0.0.1:${port}`,
      caPem: pki.caPem,
      token: adminToken,
    });
    log(
      `admin kubeconfig written to ${cfg.writeKubeconfig}; agent token in ${pki.agentTokenFile}`,
    );
    const authenticate = createAuthenticator({ dataDir: cfg.dataDir });
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
        });
        const api = await startApiServer({
          store,
          authenticate,
          ipam,
          connect: tunnel.connect,
          nodeProxy: tunnel.nodeProxy,
          cert: pki.certPem,
          key: pki.keyPem,
          port,
          hostname: cfg.bindAddress,
          // Requests still in flight at SIGTERM get 2 s, then are cut.
          shutdownGraceMs: 2000,
          extraRoutes: [
            (app) => tunnel.routes(app),
            (app) =>
              joinRoutes(app, { dataDir: cfg.dataDir, caPem: pki.caPem }),
            clusterConfigRoutes(clusterConfigOf(cfg), authenticate),
            readinessRoutes(() => sup.status(), authenticate),
          ],
          ready: () => sup.ready,
          log: ctx.log,
        });
        ctx.log(`listening on https://${api.hostname}:${api.port}`);
        ctx.ready();
        await untilAborted(ctx.signal);
        tunnel.close();
        await api.close();
      },
    };
    const janitor: TaskSpec = {
      name: "node-credentials",
      run: (ctx) =>
        runNodeCredentialJanitor({ dataDir: cfg.dataDir, store }, ctx),
    };
    const tasks: TaskSpec[] = [apiTask, janitor];
    if (!cfg.disableAgent) {
      const agent = agentTasks({
        cfg,
        server: `https://127.0.0.1:${port}`,
        token: pki.agentToken,
        status: () => sup.status(),
      });
      for (const t of agent) if (t.name === "join") t.deps = ["api"];
      tasks.push(...agent);
    }
    const sup = new Supervisor(tasks, { log: logger });
    sup.start();
    const memory = tendMemory(sup, signal, logger, "server");
    await untilAborted(signal);
    await memory;
    log("stopping");
    await sup.stop();
    return 0;
  } finally {
    store.close();
  }
}
