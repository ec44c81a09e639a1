// RTM_*ROUTE messages: routes with gateway, device, onlink, scope, table,
// type, metric, preferred source and MTU/advmss metrics; route lookups.

import { formatIp, maskBytes, parseCidr, parseIp } from "./_addr.ts";
import { afOf, familyOf, scopeName, scopeNum } from "./addr.ts";
import { attrs, bytesOf, type Msg, MsgBuilder, put32, u32Of } from "./_wire.ts";
import type { Route, RouteSpec, RouteType, Scope } from "./types.ts";

export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_METRICS = 8;
const RTA_TABLE = 15;
const RTAX_MTU = 2;
const RTAX_ADVMSS = 8;

const RTNH_F_ONLINK = 4;
export const RTM_F_CLONED = 0x200;
export const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;

const TYPES: RouteType[] = [
  "unicast",
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
];
const typeNum = (t: RouteType) => {
  const i = TYPES.indexOf(t);
  if (i < 0) {
    throw new TypeError(`invalid route type "${t}": use ${TYPES.join(", ")}`);
  }
  return i + 1;
};

/** struct rtmsg */
function rtmsg(
  f: {
    af: number;
    dstLen: number;
    table: number;
    protocol: number;
    scope: number;
    type: number;
    flags: number;
  },
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(12);
  b[0] = f.af;
  b[1] = f.dstLen;
  b[4] = f.table > 255 ? 0 : f.table;
  b[5] = f.protocol;
  b[6] = f.scope;
  b[7] = f.type;
  put32(b, 8, f.flags);
  return b;
}

function parseDst(
  r: RouteSpec,
): { family: 4 | 6; bytes: Uint8Array<ArrayBuffer> | null; prefix: number } {
  if (r.dst === "default") {
    return { family: r.family ?? 4, bytes: null, prefix: 0 };
  }
  const c = parseCidr(r.dst);
  if (r.family !== undefined && r.family !== c.family) {
    throw new TypeError(
      `route ${r.dst} is IPv${c.family} but family ${r.family} was given`,
    );
  }
  return {
    family: c.family,
    bytes: c.prefix === 0 ? null : maskBytes(c.bytes, c.prefix),
    prefix: c.prefix,
  };
}

/** RTM_NEWROUTE / RTM_DELROUTE; `index` is the resolved r.dev (or undefined). */
export function routeMsg(
  type: number,
  flags: number,
  r: RouteSpec,
  index: number | undefined,
): MsgBuilder {
  const del = type === RTM_DELROUTE;
  const dst = parseDst(r);
  const rtype = r.type ?? (del ? undefined : "unicast");
  const gw = r.gw !== undefined ? parseIp(r.gw) : undefined;
  if (gw && gw.family !== dst.family) {
    throw new TypeError(
      `gateway ${r.gw} is not IPv${dst.family} like ${r.dst}`,
    );
  }
  let scope: number;
  if (r.scope !== undefined) scope = scopeNum(r.scope);
  else if (del) scope = scopeNum("nowhere");
  else if (rtype === "local") scope = scopeNum("host");
  else if (rtype === "unicast" && !gw && index !== undefined) {
    scope = scopeNum("link");
  } else scope = 0;
  const table = r.table ?? RT_TABLE_MAIN;
  const b = new MsgBuilder(type, flags).raw(rtmsg({
    af: afOf(dst.family),
    dstLen: dst.prefix,
    table,
    protocol: r.protocol ?? (del ? 0 : RTPROT_BOOT),
    scope,
    type: rtype === undefined ? 0 : typeNum(rtype),
    flags: r.onlink ? RTNH_F_ONLINK : 0,
  }));
  b.u32(RTA_TABLE, table);
  if (dst.bytes) b.attr(RTA_DST, dst.bytes);
  if (gw) b.attr(RTA_GATEWAY, gw.bytes);
  if (index !== undefined) b.u32(RTA_OIF, index);
  if (r.metric !== undefined) b.u32(RTA_PRIORITY, r.metric);
  if (r.src !== undefined) b.attr(RTA_PREFSRC, parseIp(r.src).bytes);
  if (r.mtu !== undefined || r.advmss !== undefined) {
    b.nest(RTA_METRICS);
    if (r.mtu !== undefined) b.u32(RTAX_MTU, r.mtu);
    if (r.advmss !== undefined) b.u32(RTAX_ADVMSS, r.advmss);
    b.end();
  }
  return b;
}

export function dumpRouteMsg(flags: number, family?: 4 | 6): MsgBuilder {
  return new MsgBuilder(RTM_GETROUTE, flags).raw(
    rtmsg({
      af: family ? afOf(family) : 0,
      dstLen: 0,
      table: 0,
      protocol: 0,
      scope: 0,
      type: 0,
      flags: 0,
    }),
  );
}

const RTM_F_FIB_MATCH = 0x2000;

/**
 * RTM_GETROUTE for one destination address (a kernel route lookup); with
 * `fibMatch` the kernel answers with the route entry that matched (its
 * prefix, protocol, device) instead of the resolved /32 or /128.
 */
export function getRouteMsg(ip: string, fibMatch = false): MsgBuilder {
  const a = parseIp(ip);
  return new MsgBuilder(RTM_GETROUTE, 0)
    .raw(
      rtmsg({
        af: afOf(a.family),
        dstLen: a.bytes.length * 8,
        table: 0,
        protocol: 0,
        scope: 0,
        type: 0,
        flags: fibMatch ? RTM_F_FIB_MATCH : 0,
      }),
    )
    .attr(RTA_DST, a.bytes);
}

/** Decodes an RTM_NEWROUTE message; null for non-IP families. */
export function decodeRoute(
  m: Msg,
  names: Map<number, string>,
): (Route & { flags: number }) | null {
  const d = m.data;
  const family = familyOf(d.getUint8(0));
  if (family === null) return null;
  const a = attrs(d, 12);
  const dstLen = d.getUint8(1);
  const dst = a.get(RTA_DST);
  const zero = family === 4 ? "0.0.0.0" : "::";
  const flags = d.getUint32(8, true);
  const r: Route & { flags: number } = {
    dst: `${dst ? formatIp(bytesOf(dst)) : zero}/${dstLen}`,
    family,
    table: a.get(RTA_TABLE) ? u32Of(a.get(RTA_TABLE)!) : d.getUint8(4),
    protocol: d.getUint8(5),
    scope: scopeName(d.getUint8(6)) as Scope,
    type: TYPES[d.getUint8(7) - 1] ?? "unicast",
    flags,
  };
  if (flags & RTNH_F_ONLINK) r.onlink = true;
  const gw = a.get(RTA_GATEWAY);
  if (gw) r.gw = formatIp(bytesOf(gw));
  const oif = a.get(RTA_OIF);
  if (oif) {
    r.index = u32Of(oif);
    r.dev = names.get(r.index);
  }
  if (a.get(RTA_PRIORITY)) r.metric = u32Of(a.get(RTA_PRIORITY)!);
  if (a.get(RTA_PREFSRC)) r.src = formatIp(bytesOf(a.get(RTA_PREFSRC)!));
  const metrics = a.get(RTA_METRICS) ? attrs(a.get(RTA_METRICS)!) : undefined;
  if (metrics?.get(RTAX_MTU)) r.mtu = u32Of(metrics.get(RTAX_MTU)!);
  if (metrics?.get(RTAX_ADVMSS)) r.advmss = u32Of(metrics.get(RTAX_ADVMSS)!);
  return r;
}
