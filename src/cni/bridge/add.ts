// bridge ADD: bridge, veth, IPAM, container addressing, gateway, masquerade.

import {
  type Link,
  Netlink,
  NetlinkError,
  sysctlSet,
} from "../../../ffi/mod.ts";
import { CIDR, IP } from "../../net/mod.ts";
import { chooseBackend } from "../../net/netfilter/mod.ts";
import {
  CniError,
  CURRENT_VERSION,
  ErrorCode,
  type PluginContext,
  type Result,
  type Route,
} from "../plugin.ts";
import { delegate } from "../delegate.ts";
import type { BridgeConf } from "./config.ts";
import { ensureBridge, setupVeth, waitOperUp } from "./link.ts";
import { setupMasq } from "./ipmasq.ts";
import { cniFail, openNetns, trySysctl } from "../netns.ts";
import { setupSpoofCheck, teardownSpoofCheck } from "./spoofcheck.ts";

/** The gateway of a result IP: its own, or network + 1. */
function gatewayOf(cidr: CIDR, gw?: string): IP {
  return gw ? IP.parse(gw) : cidr.network().ip.add(1);
}

/** Puts `gw/prefix` on the bridge; an equal address is fine (concurrent ADDs). */
function ensureBridgeAddr(
  nl: Netlink,
  br: Link,
  addr: CIDR,
  force: boolean,
): void {
  for (const a of nl.addrList({ dev: br.index, family: addr.ip.family })) {
    const have = CIDR.parse(a.cidr);
    if (have.ip.equals(addr.ip) && have.prefix === addr.prefix) return;
    if (have.network().equals(addr.network())) {
      if (!force) {
        throw cniFail(
          `"${br.name}" already has an IP address different from ${addr}`,
        );
      }
      nl.addrDel(br.index, a.cidr);
    }
  }
  try {
    nl.addrAdd(br.index, addr.toString());
  } catch (err) {
    if (err instanceof NetlinkError && err.code === "EEXIST") return;
    throw cniFail(`failed to add ${addr} to bridge "${br.name}"`, err);
  }
}

function configureContainer(
  cont: Netlink,
  netns: string,
  link: Link,
  result: Result,
  conf: BridgeConf,
): void {
  try {
    trySysctl(`net/ipv4/conf/${link.name}/arp_notify`, "1", netns);
    const ips = result.ips ?? [];
    if (
      !conf.enableDad && ips.some((i) => CIDR.parse(i.address).ip.family === 6)
    ) {
      trySysctl(`net/ipv6/conf/${link.name}/accept_dad`, "0", netns);
    }
    for (const ip of ips) cont.addrAdd(link.index, ip.address);
    if (!conf.disableContainerInterface) cont.linkSet(link.index, { up: true });
    for (const r of result.routes ?? []) {
      const dst = CIDR.parse(r.dst);
      const gw = r.gw ??
        ips.map((i) => i.gateway).find((g) =>
          g && IP.parse(g).family === dst.ip.family
        );
      cont.routeAdd({
        dst: dst.toString(),
        dev: link.index,
        family: dst.ip.family,
        ...(gw ? { gw } : {}),
        ...(r.mtu ? { mtu: r.mtu } : {}),
        ...(r.advmss ? { advmss: r.advmss } : {}),
        ...(r.priority ? { metric: r.priority } : {}),
        ...(r.table ? { table: r.table } : {}),
      });
    }
  } catch (err) {
    throw err instanceof CniError
      ? err
      : cniFail(`failed to configure "${link.name}"`, err);
  }
}

/** Undoes the veth (its peer goes with it) and the spoof check of a failed ADD. */
async function undo(
  ctx: PluginContext,
  host: Netlink,
  hostIndex: number,
  conf: BridgeConf,
): Promise<void> {
  try {
    host.linkDel(hostIndex);
  } catch { /* already gone with its peer */ }
  if (conf.macSpoofChk) {
    await teardownSpoofCheck(ctx.containerId, ctx.ifname).catch((e) =>
      ctx.log?.(`macspoofchk teardown after a failed ADD: ${e.message}`)
    );
  }
}

export async function add(
  ctx: PluginContext,
  conf: BridgeConf,
): Promise<Result> {
  using host = Netlink.open();
  using cont = openNetns(ctx.netns);
  const br = await ensureBridge(host, conf);
  const pair = await setupVeth(host, cont, br, conf, ctx.netns, ctx.ifname);
  const result: Result = {
    cniVersion: CURRENT_VERSION,
    interfaces: [
      { name: br.name, mac: br.mac },
      { name: pair.host.name, mac: pair.host.mac },
      {
        name: pair.container.name,
        mac: pair.container.mac,
        sandbox: ctx.netns,
      },
    ],
  };
  if (conf.macSpoofChk) {
    try {
      await setupSpoofCheck(
        pair.host.name,
        pair.container.mac,
        ctx.containerId,
        ctx.ifname,
      );
    } catch (err) {
      await undo(ctx, host, pair.host.index, conf);
      throw cniFail("failed to set up macspoofchk", err);
    }
  }
  if (!conf.net.ipam?.type) {
    // Layer 2 only: no addresses, no gateway, no masquerade.
    try {
      if (!conf.disableContainerInterface) {
        cont.linkSet(pair.container.index, { up: true });
        await waitOperUp(host, pair.host.index);
      }
    } catch (err) {
      await undo(ctx, host, pair.host.index, conf);
      throw err instanceof CniError ? err : cniFail("bridge ADD failed", err);
    }
    return result;
  }
  const ipamType = conf.net.ipam.type;
  let ipam: Result | undefined;
  try {
    ipam = await delegate(ipamType, "ADD", conf.net, ctx);
    if (!ipam?.ips?.length) {
      throw new CniError(
        ErrorCode.Internal,
        "IPAM plugin returned missing IP config",
      );
    }
    result.ips = ipam.ips.map((ip) => {
      const gateway = ip.gateway ??
        (conf.isGateway
          ? gatewayOf(CIDR.parse(ip.address)).toString()
          : undefined);
      return gateway === undefined
        ? { address: ip.address, interface: 2 }
        : { address: ip.address, gateway, interface: 2 };
    });
    const routes: Route[] = [...(ipam.routes ?? [])];
    if (conf.isDefaultGateway) {
      for (const ip of result.ips) {
        if (!ip.gateway) continue;
        const fam = IP.parse(ip.gateway).family;
        const dflt = fam === 4 ? "0.0.0.0/0" : "::/0";
        if (!routes.some((r) => CIDR.parse(r.dst).toString() === dflt)) {
          routes.push({ dst: dflt, gw: ip.gateway });
        }
      }
    }
    if (routes.length) result.routes = routes;
    const dns = ipam.dns ?? conf.net.dns;
    if (dns && Object.keys(dns).length) result.dns = dns;

    configureContainer(cont, ctx.netns, pair.container, result, conf);
    if (conf.isGateway) {
      for (const ip of result.ips) {
        if (!ip.gateway) continue;
        const cidr = CIDR.parse(ip.address);
        ensureBridgeAddr(
          host,
          br,
          CIDR.of(IP.parse(ip.gateway), cidr.prefix),
          conf.forceAddress,
        );
        if (cidr.ip.family === 4) sysctlSet("net/ipv4/ip_forward", "1");
        else trySysctl("net/ipv6/conf/all/forwarding", "1");
      }
    }
    if (conf.ipMasq) {
      const backend = await chooseBackend(conf.ipMasqBackend);
      await setupMasq(
        backend,
        result.ips.map((i) => CIDR.parse(i.address)),
        {
          network: conf.net.name,
          containerId: ctx.containerId,
          ifname: ctx.ifname,
        },
      );
    }
    if (!conf.disableContainerInterface) {
      await waitOperUp(host, pair.host.index);
    }
  } catch (err) {
    await undo(ctx, host, pair.host.index, conf);
    if (ipam) {
      try {
        await delegate(ipamType, "DEL", conf.net, ctx);
      } catch (delErr) {
        ctx.log?.(`IPAM DEL after a failed ADD: ${(delErr as Error).message}`);
      }
    }
    throw err instanceof CniError ? err : cniFail("bridge ADD failed", err);
  }
  const brNow = host.linkGet(br.index);
  if (brNow && result.interfaces) result.interfaces[0].mac = brNow.mac;
  return result;
}
