// The portmap CNI plugin (chained): host ports DNAT'ed to the container,
// with hairpin/localhost masquerading, through iptables or nftables.

import { Netlink } from "../../../ffi/mod.ts";
import type { CIDR } from "../../net/mod.ts";
import {
  conntrackDeletePort,
  type IpFamily,
  supportsIptables,
} from "../../net/netfilter/mod.ts";
import { pickBackend } from "./backend.ts";
import {
  CniError,
  ErrorCode,
  type Plugin,
  type PluginContext,
  type Result,
} from "../plugin.ts";
import { chainedPrevResult, gcAttachments } from "../conf.ts";
import { parsePortmapConf, type PortmapConf } from "./config.ts";
import {
  checkIptables,
  forwardIptables,
  gcIptables,
  unforwardIptables,
} from "./iptables.ts";
import {
  checkNftables,
  forwardNftables,
  unforwardNftables,
} from "./nftables.ts";
import { trySysctl } from "../netns.ts";

export { dnChain, dnComment } from "./iptables.ts";
export {
  parsePortmapConf,
  type PortmapConf,
  type PortMapping,
} from "./config.ts";

function fail(msg: string, err?: unknown): CniError {
  const why = err === undefined ? "" : `: ${(err as Error).message}`;
  return new CniError(ErrorCode.Internal, msg + why, undefined, { cause: err });
}

/** route_localnet=1 on the host interface that routes to the container. */
function enableLocalnet(c: CIDR): void {
  using nl = Netlink.open();
  const dev = nl.routeGet(c.ip.toString()).dev;
  if (dev) trySysctl(`net/ipv4/conf/${dev}/route_localnet`, "1");
}

function addresses(conf: PortmapConf): CIDR[] {
  return [conf.containerV4, conf.containerV6].filter((c): c is CIDR => !!c);
}

/**
 * ADD: one batched netfilter exec per family with iptables (one for all
 * families with nftables); none without mappings.
 */
async function add(ctx: PluginContext): Promise<Result> {
  const prev = chainedPrevResult(ctx);
  const conf = parsePortmapConf(ctx.config, ctx.ifname);
  if (conf.mappings.length === 0) return prev;
  const backend = pickBackend(conf.backend);
  const addrs = addresses(conf);
  try {
    if (backend === "nftables") {
      await forwardNftables(conf, addrs, ctx.containerId);
    }
    for (const c of addrs) {
      if (backend === "iptables") {
        await forwardIptables(conf, c, ctx.containerId);
      }
      if (conf.snat && c.ip.family === 4) enableLocalnet(c);
      for (const m of conf.mappings) {
        if (m.protocol !== "udp") continue;
        await conntrackDeletePort("udp", m.hostPort, { family: c.ip.family });
      }
    }
  } catch (err) {
    throw err instanceof CniError ? err : fail(
      `unable to forward ports to ${addrs.map((c) => c.ip).join(", ")}`,
      err,
    );
  }
  return prev;
}

/**
 * DEL: like the reference, nothing to do (and no exec) without mappings;
 * else the container's rules go from the backend ADD used, in the
 * families of prevResult's addresses (both when there is no prevResult).
 */
async function del(ctx: PluginContext): Promise<void> {
  const conf = parsePortmapConf(ctx.config, ctx.ifname);
  if (conf.mappings.length === 0) return;
  const backend = pickBackend(conf.backend);
  try {
    if (backend === "nftables") {
      await unforwardNftables(ctx.containerId);
    } else {
      const families = addresses(conf).map((c) => c.ip.family as IpFamily);
      await unforwardIptables(
        conf,
        ctx.containerId,
        families.length ? families : [4, 6],
      );
    }
  } catch (err) {
    throw fail("could not delete port mappings", err);
  }
}

async function check(ctx: PluginContext): Promise<void> {
  chainedPrevResult(ctx);
  const conf = parsePortmapConf(ctx.config, ctx.ifname);
  if (conf.mappings.length === 0) return;
  const backend = pickBackend(conf.backend);
  for (const c of addresses(conf)) {
    const missing = backend === "iptables"
      ? await checkIptables(conf, c, ctx.containerId)
      : await checkNftables(conf, c, ctx.containerId);
    if (missing) throw fail(`portmap CHECK: ${missing}`);
  }
}

async function gc(ctx: PluginContext): Promise<void> {
  const keep = new Set(gcAttachments(ctx.config).map((a) => a.containerId));
  const errors: string[] = [];
  if (await supportsIptables()) {
    await gcIptables(ctx.config.name, keep).catch((e) =>
      errors.push(e.message)
    );
  }
  // nftables rules carry only the container id (as the reference writes
  // them), not the network: GC cannot tell this network's stale rules from
  // another network's live ones, so it leaves nftables alone.
  if (errors.length) throw fail(`portmap GC: ${errors.join("; ")}`);
}

export const plugin: Plugin = { add, del, check, gc };
