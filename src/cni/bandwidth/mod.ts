// The bandwidth CNI plugin (chained): traffic to the container is shaped by
// a tbf qdisc on the host veth; traffic from it is redirected from the host
// veth's ingress to an ifb device ("bwp" + hash) shaped by its own tbf.

import { type Link, Netlink, NetlinkError } from "../../../ffi/mod.ts";
import { hashedChainName } from "../../net/netfilter/mod.ts";
import {
  CniError,
  later,
  type Plugin,
  type PluginContext,
  type Result,
} from "../plugin.ts";
import { chainedPrevResult } from "../conf.ts";
import { cniFail, openNetns } from "../netns.ts";
import { hasLimits, IFB_PREFIX, type Limits, parseLimits } from "./config.ts";

export { hasLimits, type Limits, parseLimits } from "./config.ts";

/** The reference's tbf latency. */
const LATENCY_MS = 25;

/** ifb device: "bwp" + the first 12 hex of sha512(network + container id). */
export function ifbName(network: string, containerId: string): Promise<string> {
  return hashedChainName(IFB_PREFIX, network + containerId, 12);
}

/** tbf of `rate` bit/s and `burst` bits, limit = 25 ms of rate + burst. */
function tbf(nl: Netlink, dev: number, rate: number, burst: number): void {
  const rateBytes = Math.floor(rate / 8);
  const burstBytes = Math.floor(burst / 8);
  nl.qdiscTbf(dev, {
    rate,
    burst: burstBytes,
    latencyMs: LATENCY_MS,
    limit: Math.floor(rateBytes * LATENCY_MS / 1000) + burstBytes,
  });
}

/** The host end of the container's veth, found through its peer index. */
function hostVeth(ctx: PluginContext, prev: Result, host: Netlink): Link {
  const ifaces = prev.interfaces ?? [];
  if (!ifaces.some((i) => i.name === ctx.ifname && i.sandbox)) {
    throw cniFail(`prevResult has no interface "${ctx.ifname}" in a sandbox`);
  }
  using cont = openNetns(ctx.netns);
  const link = cont.linkGet(ctx.ifname);
  if (!link) {
    throw cniFail(`interface "${ctx.ifname}" not found in ${ctx.netns}`);
  }
  // IFLA_LINK, the peer's index; the kernel leaves it out when it equals
  // the link's own index.
  const peerIndex = link.linkIndex ?? link.index;
  for (const i of ifaces) {
    if (i.sandbox) continue;
    const h = host.linkGet(i.name);
    if (h && h.index === peerIndex) return h;
  }
  throw cniFail(`no host interface of "${ctx.ifname}" found in prevResult`);
}

async function add(ctx: PluginContext): Promise<Result> {
  const prev = chainedPrevResult(ctx);
  const limits = parseLimits(ctx.config);
  if (!hasLimits(limits)) return prev;
  using host = Netlink.open();
  const veth = hostVeth(ctx, prev, host);
  const result: Result = { ...prev, interfaces: [...(prev.interfaces ?? [])] };
  try {
    if (limits.ingressRate > 0) {
      tbf(host, veth.index, limits.ingressRate, limits.ingressBurst);
    }
    if (limits.egressRate > 0) {
      const name = await ifbName(ctx.config.name, ctx.containerId);
      let ifb = host.linkGet(name);
      if (!ifb) {
        ifb = host.linkAdd({ kind: "ifb", name, mtu: veth.mtu, up: true });
      }
      host.linkSet(ifb.index, { up: true });
      host.qdiscIngress(veth.index);
      host.redirectIngress(veth.index, ifb.index);
      tbf(host, ifb.index, limits.egressRate, limits.egressBurst);
      result.interfaces!.push({
        name,
        mac: (host.linkGet(ifb.index) ?? ifb).mac,
      });
    }
  } catch (err) {
    throw err instanceof CniError
      ? err
      : cniFail("failed to set up bandwidth limits", err);
  }
  return result;
}

/** Removes the ifb device (the veth's qdiscs go with the veth). */
async function del(ctx: PluginContext): Promise<void> {
  parseLimits(ctx.config);
  const name = await ifbName(ctx.config.name, ctx.containerId);
  // Deleting a link waits for RCU grace periods: deferrable (an agent runs
  // it after its answer, before its next operation).
  await later(ctx, () => {
    using host = Netlink.open();
    try {
      if (host.linkGet(name)) host.linkDel(name);
    } catch (err) {
      if (err instanceof NetlinkError && err.code === "ENODEV") return;
      throw cniFail(`failed to delete "${name}"`, err);
    }
  });
}

async function check(ctx: PluginContext): Promise<void> {
  const prev = chainedPrevResult(ctx);
  const limits: Limits = parseLimits(ctx.config);
  if (!hasLimits(limits)) return;
  using host = Netlink.open();
  const veth = hostVeth(ctx, prev, host);
  const root = (dev: number) =>
    host.qdiscList(dev).find((q) => q.parent === "root" && q.kind === "tbf");
  if (limits.ingressRate > 0 && !root(veth.index)) {
    throw cniFail(`no tbf qdisc on "${veth.name}"`);
  }
  if (limits.egressRate > 0) {
    const name = await ifbName(ctx.config.name, ctx.containerId);
    const ifb = host.linkGet(name);
    if (!ifb) throw cniFail(`ifb device "${name}" not found`);
    if (!root(ifb.index)) throw cniFail(`no tbf qdisc on "${name}"`);
    if (!host.qdiscList(veth.index).some((q) => q.kind === "ingress")) {
      throw cniFail(`no ingress qdisc on "${veth.name}"`);
    }
  }
}

export const plugin: Plugin = { add, del, check };
