// The host-local IPAM plugin: allocates one IP per range set from files
// under dataDir, compatible with the reference plugin's state.

import { IP } from "../../net/mod.ts";
import {
  CniError,
  CURRENT_VERSION,
  ErrorCode,
  type IPConfig,
  type Plugin,
  type PluginContext,
  type Result,
} from "../plugin.ts";
import { allocate } from "./allocator.ts";
import { loadConfig } from "./config.ts";
import { parseResolvConf } from "./dns.ts";
import { validAttachments } from "./gc.ts";
import { rangeSetContains } from "./range.ts";
import { DiskStore } from "./store.ts";

export { candidates } from "./allocator.ts";
export {
  DEFAULT_DATA_DIR,
  type HostLocalConfig,
  loadConfig,
} from "./config.ts";
export { type Allocation, DiskStore } from "./store.ts";

async function add(ctx: PluginContext): Promise<Result> {
  const conf = loadConfig(ctx);
  const dns = conf.resolvConf ? parseResolvConf(conf.resolvConf) : undefined;
  const store = DiskStore.open(conf.dataDir, conf.name, ctx.defer);
  const ips = await store.withLock(() => {
    const wanted = [...conf.requestedIPs];
    const got: IPConfig[] = [];
    const taken: IP[] = [];
    try {
      conf.rangeSets.forEach((set, idx) => {
        const i = wanted.findIndex((ip) => rangeSetContains(set, ip));
        const requested = i < 0 ? null : wanted.splice(i, 1)[0];
        try {
          const ip = allocate(
            store,
            set,
            idx,
            ctx.containerId,
            ctx.ifname,
            requested,
          );
          got.push(ip);
          taken.push(requested ?? parseAddress(ip.address));
        } catch (err) {
          const e = err as CniError;
          throw new CniError(
            e.code ?? ErrorCode.Internal,
            `failed to allocate for range ${idx}: ${e.message}`,
            undefined,
            { cause: err },
          );
        }
      });
      if (wanted.length) {
        throw new CniError(
          ErrorCode.Internal,
          `failed to allocate all requested IPs: ${wanted.join(", ")}`,
        );
      }
    } catch (err) {
      for (const ip of taken) store.release(ip);
      throw err;
    }
    return got;
  });
  const result: Result = { cniVersion: CURRENT_VERSION, ips };
  if (conf.routes.length) result.routes = conf.routes;
  if (dns) result.dns = dns;
  return result;
}

function parseAddress(cidr: string): IP {
  return IP.parse(cidr.split("/")[0]);
}

async function del(ctx: PluginContext): Promise<void> {
  const conf = loadConfig(ctx);
  const store = DiskStore.open(conf.dataDir, conf.name);
  await store.withLock(() => store.releaseByID(ctx.containerId, ctx.ifname));
}

async function check(ctx: PluginContext): Promise<void> {
  const conf = loadConfig(ctx);
  const store = DiskStore.open(conf.dataDir, conf.name);
  const held = await store.withLock(() =>
    store.findByID(ctx.containerId, ctx.ifname)
  );
  if (held.length === 0) {
    throw new CniError(
      ErrorCode.Internal,
      `host-local: failed to find address added by container ${ctx.containerId}`,
    );
  }
}

/** Releases every IP whose owner is not a valid attachment. */
async function gc(ctx: PluginContext): Promise<void> {
  const conf = loadConfig(ctx);
  const valid = validAttachments(ctx.config);
  const store = DiskStore.open(conf.dataDir, conf.name);
  const errors: string[] = [];
  await store.withLock(() => {
    for (const a of store.list()) {
      const keep = valid.some((v) =>
        v.containerID === a.containerId &&
        (a.ifname === null || v.ifname === a.ifname)
      );
      if (keep) continue;
      try {
        store.release(a.ip);
        ctx.log?.(`host-local: GC released ${a.ip} of ${a.containerId}`);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  });
  if (errors.length) {
    throw new CniError(
      ErrorCode.IOFailure,
      "host-local GC failed",
      errors.join("; "),
    );
  }
}

/** Ready when the data dir can be created and locked. */
async function status(ctx: PluginContext): Promise<void> {
  try {
    const conf = loadConfig(ctx);
    const store = DiskStore.open(conf.dataDir, conf.name);
    await store.withLock(() => {});
  } catch (err) {
    throw new CniError(
      ErrorCode.NotAvailable,
      `host-local not available: ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
}

export const plugin: Plugin = { add, del, check, gc, status };
