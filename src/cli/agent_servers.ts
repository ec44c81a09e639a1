// The agent's view of the cluster's servers: joins through whichever
// answers, keeps the list current from `GET /v1-weft/servers`, and saves it
// under the data dir so an agent restarted while its --server is down
// still finds the others (K3s keeps its load balancer's list the same way).

import { join } from "node:path";
import {
  type Balancer,
  joinCluster,
  type JoinOptions,
  type JoinResult,
  type KubeClient,
} from "../kube/mod.ts";
import { sleep } from "../util/async.ts";
import { readTextIfExists, writeFileAtomic } from "../util/fs.ts";

export const SERVERS_PATH = "/v1-weft/servers";
/** How often the agent asks for the list of servers. */
const REFRESH_MS = 10_000;
/** Bound on the answer read (it comes from the network). */
const MAX_ANSWER = 64 * 1024;

function savedPath(dataDir: string): string {
  return join(dataDir, "agent", "etc", "servers.json");
}

/** Adds the servers saved by an earlier run to `b`. */
export async function loadSavedServers(
  dataDir: string,
  b: Balancer,
): Promise<void> {
  try {
    const text = await readTextIfExists(savedPath(dataDir));
    const list = text ? JSON.parse(text) : [];
    if (Array.isArray(list)) {
      b.update(list.filter((s): s is string => typeof s === "string"));
    }
  } catch {
    // unreadable: the --server address alone
  }
}

/** Joins through the balancer's current server, moving on to the next one
 * when it cannot be reached; the last failure is thrown. */
export async function joinAny(
  b: Balancer,
  opts: Omit<JoinOptions, "server" | "balancer">,
): Promise<JoinResult> {
  for (let tries = b.servers.length;; tries--) {
    const server = b.current();
    try {
      return await joinCluster({ ...opts, server, balancer: b });
    } catch (e) {
      if (tries <= 1) throw e;
      opts.log?.(`join through ${server} failed: ${(e as Error).message}`);
      b.failed(server);
    }
  }
}

/** The servers' list as one server reports it; null when not available. */
export async function fetchServers(
  client: KubeClient,
  signal?: AbortSignal,
): Promise<string[] | null> {
  const res = await client.raw("GET", SERVERS_PATH, { signal })
    .catch(() => null);
  if (!res) return null;
  if (!res.ok) {
    await res.body?.cancel();
    return null;
  }
  const text = await res.text();
  if (text.length > MAX_ANSWER) return null;
  try {
    const v = JSON.parse(text) as { servers?: unknown };
    return Array.isArray(v.servers)
      ? v.servers.filter((s): s is string => typeof s === "string")
      : null;
  } catch {
    return null;
  }
}

/** Keeps `b` and the saved list current until `signal` aborts. */
export async function followServers(
  client: KubeClient,
  b: Balancer,
  dataDir: string,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    const list = await fetchServers(client, signal);
    if (list && list.length > 0) {
      const before = b.servers.join(",");
      b.update(list);
      if (b.servers.join(",") !== before) {
        await writeFileAtomic(
          savedPath(dataDir),
          JSON.stringify(b.servers) + "\n",
        ).catch(() => {});
      }
    }
    await sleep(REFRESH_MS, signal);
  }
}
