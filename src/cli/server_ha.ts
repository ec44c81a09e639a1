// Several servers on one etcd datastore: the shared bootstrap data (sealed
// with --token), node credentials kept in the datastore, each server's
// address advertised under a lease so agents learn every server
// (`GET /v1-weft/servers`), and the cluster-wide loops run on one server at
// a time.

import type { Hono } from "hono";
import type { Identity } from "../api/auth/mod.ts";
import {
  keepNodeCredentialsIn,
  runNodeCredentialJanitor,
} from "../api/auth/mod.ts";
import {
  publishBootstrap,
  restoreBootstrap,
  WrongToken,
} from "../bootstrap/mod.ts";
import {
  advertise,
  COMPACT_INTERVAL_MS,
  Gone,
  parseDatastoreEndpoint,
  runCompactor,
  runOncePerCluster,
  type Store,
} from "../store/mod.ts";
import type { TaskContext, TaskSpec } from "../supervisor/mod.ts";
import { sleep, untilAborted } from "../util/async.ts";
import type { WeftConfig } from "./config.ts";
import { SERVERS_PATH } from "./agent_servers.ts";
import { CommandError } from "./errors.ts";
import { detectNodeIPs } from "./node_ip.ts";
import { authenticatedGet, tokenOf } from "./run.ts";

export const SERVERS_PREFIX = "/weft/servers/";

/** This server's API URL as agents reach it: --advertise-address, else
 * (as K3s) the first node external IP, else the first node IP; and the
 * API port. */
export function serverUrlOf(cfg: WeftConfig): string {
  let ip = cfg.advertiseAddress ?? cfg.nodeExternalIP[0] ?? cfg.nodeIP[0];
  if (!ip) {
    try {
      ip = detectNodeIPs()[0];
    } catch {
      // no default route: loopback below
    }
  }
  ip ??= "127.0.0.1";
  const host = ip.includes(":") ? `[${ip}]` : ip;
  return `https://${host}:${cfg.httpsListenPort}`;
}

/** Whether the datastore is shared by several servers (etcd). */
export function sharedDatastore(cfg: WeftConfig): boolean {
  return parseDatastoreEndpoint(cfg.datastoreEndpoint, "").kind === "etcd";
}

/**
 * Runs `setup` (which loads or creates the PKI and admin token from the data
 * dir) with the cluster's bootstrap data in place: on a shared datastore it
 * is restored before `setup`, or - first server - published after it.
 */
export async function withSharedBootstrap<T>(
  store: Store,
  cfg: WeftConfig,
  log: (m: string) => void,
  setup: () => Promise<T>,
): Promise<T> {
  if (!sharedDatastore(cfg)) return await setup();
  const token = await tokenOf(cfg);
  if (!token) {
    throw new CommandError(
      "an etcd datastore needs --token (the same on every server): the cluster's bootstrap data is encrypted with it",
    );
  }
  keepNodeCredentialsIn(cfg.dataDir, store);
  try {
    if (await restoreBootstrap(store, cfg.dataDir, token)) {
      log("bootstrap data (CA, tokens) restored from the datastore");
      return await setup();
    }
    const out = await setup();
    if (await publishBootstrap(store, cfg.dataDir, token)) {
      log("bootstrap data (CA, tokens) published to the datastore");
      return out;
    }
    log("another server published the bootstrap data first; using it");
    return await setup();
  } catch (e) {
    if (e instanceof WrongToken) {
      throw new CommandError(e.message, { cause: e });
    }
    throw e;
  }
}

/** The server's cluster-wide tasks: the node-credential janitor, the
 * server list and, on etcd, history compaction; on etcd the janitor and the
 * compactor run on one server at a time. */
export function clusterTasks(
  store: Store,
  cfg: WeftConfig,
  servers: ServerSet,
): TaskSpec[] {
  const shared = sharedDatastore(cfg);
  const identity = `${cfg.nodeName}/${Deno.pid}`;
  const janitor: TaskSpec = {
    name: "node-credentials",
    run: (ctx) => {
      // Ready at once: on etcd another server may hold the loop.
      if (shared) ctx.ready();
      return runOncePerCluster(
        store,
        "node-credentials",
        identity,
        (signal) =>
          runNodeCredentialJanitor({ dataDir: cfg.dataDir, store }, {
            ...ctx,
            signal,
          }),
        ctx.signal,
      );
    },
  };
  const tasks = [
    janitor,
    servers.task(store, cfg.nodeName, serverUrlOf(cfg), shared),
  ];
  if (shared) tasks.push(compactorTask(store, identity));
  return tasks;
}

/** etcd's history compaction, on one server of the cluster at a time. */
function compactorTask(store: Store, identity: string): TaskSpec {
  return {
    name: "compactor",
    run: (ctx: TaskContext) => {
      ctx.ready();
      return runOncePerCluster(
        store,
        "compactor",
        identity,
        (signal) => runCompactor(store, signal, COMPACT_INTERVAL_MS, ctx.log),
        ctx.signal,
      );
    },
  };
}

/** The live set of servers' API URLs, from the datastore. */
export class ServerSet {
  #urls: string[] = [];

  get urls(): string[] {
    return this.#urls;
  }

  /** The route agents ask for every server's address. */
  routes(
    authenticate: (req: Request) => Promise<Identity | null>,
  ): (app: Hono) => void {
    return authenticatedGet(
      SERVERS_PATH,
      authenticate,
      (c) => c.json({ servers: this.#urls }),
    );
  }

  /** Advertises `self` and follows every server's record, until stopped;
   * with a datastore of its own (SQLite) the server is the only one. */
  task(store: Store, name: string, self: string, shared: boolean): TaskSpec {
    return {
      name: "server-members",
      run: async (ctx: TaskContext) => {
        if (!shared) {
          this.#urls = [self];
          ctx.ready();
          return await untilAborted(ctx.signal);
        }
        const key = SERVERS_PREFIX + name;
        const holding = advertise(store, key, self, ctx.signal);
        holding.catch((e) => ctx.log(`advertise: ${(e as Error).message}`));
        await this.#follow(store, ctx);
        await holding.catch(() => {});
      },
    };
  }

  async #follow(store: Store, ctx: TaskContext): Promise<void> {
    const members = new Map<string, string>();
    const publish = () => {
      this.#urls = [...new Set(members.values())].sort();
    };
    let ready = false;
    while (!ctx.signal.aborted) {
      try {
        const l = await store.list(SERVERS_PREFIX);
        members.clear();
        for (const e of l.entries) members.set(e.key, e.value);
        publish();
        if (!ready) {
          ready = true;
          ctx.ready();
        }
        const events = store.watch(SERVERS_PREFIX, {
          fromRevision: l.revision,
          signal: ctx.signal,
        });
        for await (const ev of events) {
          if (ev.type === "put") members.set(ev.entry.key, ev.entry.value);
          else members.delete(ev.entry.key);
          publish();
        }
      } catch (e) {
        if (!(e instanceof Gone)) {
          ctx.log(`server list: ${(e as Error).message}; retrying`);
        }
        await sleep(1000, ctx.signal);
      }
    }
  }
}
