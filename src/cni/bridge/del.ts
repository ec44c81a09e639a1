// bridge DEL, CHECK, GC and STATUS.

import { Netlink, NetlinkError } from "../../../ffi/mod.ts";
import { CIDR } from "../../net/mod.ts";
import { CniError, ErrorCode, later, type PluginContext } from "../plugin.ts";
import { delegate } from "../delegate.ts";
import { gcAttachments } from "../conf.ts";
import type { BridgeConf } from "./config.ts";
import { gcMasq, teardownMasq } from "./ipmasq.ts";
import { cniFail, netnsExists, openNetns } from "../netns.ts";
import { spoofCheckPresent, teardownSpoofCheck } from "./spoofcheck.ts";

/**
 * IPAM DEL, the container interface (a missing netns or link is fine), and
 * the masquerade rules - those also with an empty CNI_NETNS (plugins#810).
 * The interface's deletion is deferrable (PluginContext.defer): the address
 * is released and the rules are gone before the answer either way.
 */
export async function del(ctx: PluginContext, conf: BridgeConf): Promise<void> {
  if (conf.net.ipam?.type) {
    await delegate(conf.net.ipam.type, "DEL", conf.net, ctx);
  }
  if (ctx.netns && netnsExists(ctx.netns)) {
    // The handle is opened now (it keeps the namespace alive after the
    // runtime unmounts it); deleting a veth waits for the kernel's RCU
    // grace periods (~15 ms), which an agent runs after its answer.
    const cont = openNetns(ctx.netns);
    await later(ctx, () => {
      using _ = cont;
      try {
        const link = cont.linkGet(ctx.ifname);
        if (link) cont.linkDel(link.index);
      } catch (err) {
        if (!(err instanceof NetlinkError && err.code === "ENODEV")) {
          throw cniFail(`failed to delete "${ctx.ifname}"`, err);
        }
      }
    });
  }
  if (conf.macSpoofChk) {
    await teardownSpoofCheck(ctx.containerId, ctx.ifname);
  }
  if (conf.ipMasq) {
    await teardownMasq({
      network: conf.net.name,
      containerId: ctx.containerId,
      ifname: ctx.ifname,
    });
  }
}

function checkFail(msg: string): CniError {
  return new CniError(ErrorCode.Internal, msg);
}

export async function check(
  ctx: PluginContext,
  conf: BridgeConf,
): Promise<void> {
  const prev = conf.net.prevResult;
  if (!prev) throw checkFail("bridge CHECK requires a prevResult");
  if (conf.net.ipam?.type) {
    await delegate(conf.net.ipam.type, "CHECK", conf.net, ctx);
  }
  using host = Netlink.open();
  using cont = openNetns(ctx.netns);
  const br = host.linkGet(conf.bridge);
  if (!br) throw checkFail(`bridge "${conf.bridge}" not found`);
  if (br.kind !== "bridge") throw checkFail(`"${conf.bridge}" is not a bridge`);
  const ifaces = prev.interfaces ?? [];
  const want = ifaces.find((i) => i.name === ctx.ifname && i.sandbox);
  if (!want) {
    throw checkFail(
      `prevResult has no interface "${ctx.ifname}" with a sandbox`,
    );
  }
  const link = cont.linkGet(ctx.ifname);
  if (!link) {
    throw checkFail(`interface "${ctx.ifname}" not found in ${ctx.netns}`);
  }
  if (link.kind !== "veth") {
    throw checkFail(`interface "${ctx.ifname}" is ${link.kind}, not a veth`);
  }
  if (want.mac && want.mac.toLowerCase() !== link.mac.toLowerCase()) {
    throw checkFail(
      `interface "${ctx.ifname}" MAC ${link.mac} does not match ${want.mac}`,
    );
  }
  const hostIf = ifaces.find((i) => !i.sandbox && i.name !== conf.bridge);
  if (hostIf) {
    const h = host.linkGet(hostIf.name);
    if (!h) throw checkFail(`host veth "${hostIf.name}" not found`);
    if (h.master !== br.index) {
      throw checkFail(
        `host veth "${hostIf.name}" is not attached to "${conf.bridge}"`,
      );
    }
  }
  if (
    conf.macSpoofChk &&
    !(await spoofCheckPresent(ctx.containerId, ctx.ifname))
  ) {
    throw checkFail(`macspoofchk rules for "${ctx.ifname}" are missing`);
  }
  const have = cont.addrList({ dev: link.index }).map((a) =>
    CIDR.parse(a.cidr).toString()
  );
  for (const ip of prev.ips ?? []) {
    const w = CIDR.parse(ip.address).toString();
    if (!have.includes(w)) {
      throw checkFail(`address ${w} not found on "${ctx.ifname}"`);
    }
  }
  const routes = cont.routeList({});
  for (const r of prev.routes ?? []) {
    const dst = CIDR.parse(r.dst).network().toString();
    const hit = routes.some((x) => x.dst === dst && (!r.gw || x.gw === r.gw));
    if (!hit) {
      throw checkFail(`route ${dst}${r.gw ? ` via ${r.gw}` : ""} not found`);
    }
  }
}

export async function gc(ctx: PluginContext, conf: BridgeConf): Promise<void> {
  const errors: string[] = [];
  if (conf.net.ipam?.type) {
    try {
      await delegate(conf.net.ipam.type, "GC", conf.net, ctx);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (conf.ipMasq) {
    try {
      await gcMasq(conf.net.name, gcAttachments(conf.net));
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (errors.length) throw new CniError(ErrorCode.Internal, errors.join("; "));
}

export async function status(
  ctx: PluginContext,
  conf: BridgeConf,
): Promise<void> {
  if (conf.net.ipam?.type) {
    await delegate(conf.net.ipam.type, "STATUS", conf.net, ctx);
  }
}
