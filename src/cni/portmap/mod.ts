// The portmap CNI plugin (chained): host ports DNAT'ed to the container,
// with hairpin/localhost masquerading, through iptables or nftables.

import { Netlink } from "../../../ffi/mod.ts";
import type { CIDR } from "../../net/mod.ts";
import {
  chooseBackend,
  conntrackDeletePort,
  supportsIptables,
  supportsNftables,
} from "../../net/netfilter/mod.ts";
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

async function add(ctx: PluginContext): Promise<Result> {
  const prev = chainedPrevResult(ctx);
  const conf = parsePortmapConf(ctx.config, ctx.ifname);
  if (conf.mappings.length === 0) return prev;
  const backend = await chooseBackend(conf.backend);
  for (const c of addresses(conf)) {
    try {
      if (backend === "iptables") {
        await forwardIptables(conf, c, ctx.containerId);
      } else await forwardNftables(conf, c, ctx.containerId);
      if (conf.snat && c.ip.family === 4) enableLocalnet(c);
      for (const m of conf.mappings) {
        if (m.protocol !== "udp") continue;
        await conntrackDeletePort("udp", m.hostPort, { family: c.ip.family });
      }
    } catch (err) {
      throw err instanceof CniError
        ? err
        : fail(`unable to forward ports to ${c.ip}`, err);
    }
  }
  return prev;
}

/** Removes the container's mappings from every usable backend. */
async function del(ctx: PluginContext): Promise<void> {
  const conf = parsePortmapConf(ctx.config, ctx.ifname);
  const errors: string[] = [];
  if (conf.backend !== "nftables" && (await supportsIptables())) {
    try {
      await unforwardIptables(conf.net.name, ctx.containerId);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (conf.backend !== "iptables" && (await supportsNftables())) {
    try {
      await unforwardNftables(ctx.containerId);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (errors.length) {
    throw fail(`could not delete port mappings: ${errors.join("; ")}`);
  }
}

async function check(ctx: PluginContext): Promise<void> {
  chainedPrevResult(ctx);
  const conf = parsePortmapConf(ctx.config, ctx.ifname);
  if (conf.mappings.length === 0) return;
  const backend = await chooseBackend(conf.backend);
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
