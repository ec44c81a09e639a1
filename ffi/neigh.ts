// RTM_*NEIGH messages: ARP/NDP entries (AF_INET/AF_INET6) and bridge/VXLAN
// forwarding database entries (AF_BRIDGE).

import { formatIp, formatMac, parseIp, parseMac } from "./_addr.ts";
import { afOf, familyOf } from "./addr.ts";
import { attrs, bytesOf, type Msg, MsgBuilder, put16, put32 } from "./_wire.ts";
import type { Fdb, Neigh } from "./types.ts";

export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;

const NDA_DST = 1;
const NDA_LLADDR = 2;

export const AF_BRIDGE = 7;
export const NUD_PERMANENT = 0x80;
export const NTF_SELF = 0x02;

const NUD: [number, string][] = [
  [0x01, "INCOMPLETE"],
  [0x02, "REACHABLE"],
  [0x04, "STALE"],
  [0x08, "DELAY"],
  [0x10, "PROBE"],
  [0x20, "FAILED"],
  [0x40, "NOARP"],
  [0x80, "PERMANENT"],
];

/** struct ndmsg */
function ndmsg(
  af: number,
  index: number,
  state: number,
  flags: number,
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(12);
  b[0] = af;
  put32(b, 4, index);
  put16(b, 8, state);
  b[10] = flags;
  return b;
}

/** Permanent ARP/NDP entry ip -> mac on link `index` (mac omitted for delete). */
export function neighMsg(
  type: number,
  flags: number,
  index: number,
  ip: string,
  mac?: string,
): MsgBuilder {
  const a = parseIp(ip);
  const b = new MsgBuilder(type, flags).raw(
    ndmsg(afOf(a.family), index, NUD_PERMANENT, 0),
  );
  b.attr(NDA_DST, a.bytes);
  if (mac !== undefined) b.attr(NDA_LLADDR, parseMac(mac));
  return b;
}

/** FDB entry (AF_BRIDGE, NTF_SELF, NUD_PERMANENT): mac -> remote dst. */
export function fdbMsg(
  type: number,
  flags: number,
  index: number,
  mac: string,
  dst?: string,
): MsgBuilder {
  const b = new MsgBuilder(type, flags).raw(
    ndmsg(AF_BRIDGE, index, NUD_PERMANENT, NTF_SELF),
  );
  b.attr(NDA_LLADDR, parseMac(mac));
  if (dst !== undefined) b.attr(NDA_DST, parseIp(dst).bytes);
  return b;
}

export function dumpNeighMsg(flags: number, af: number): MsgBuilder {
  return new MsgBuilder(RTM_GETNEIGH, flags).raw(ndmsg(af, 0, 0, 0));
}

export function decodeNeigh(
  m: Msg,
  names: Map<number, string>,
): (Neigh & { family: 4 | 6 }) | null {
  const d = m.data;
  const family = familyOf(d.getUint8(0));
  if (family === null) return null;
  const a = attrs(d, 12);
  const dst = a.get(NDA_DST);
  if (!dst) return null;
  const index = d.getInt32(4, true);
  const state = d.getUint16(8, true);
  const ll = a.get(NDA_LLADDR);
  return {
    dev: names.get(index) ?? "",
    index,
    ip: formatIp(bytesOf(dst)),
    mac: ll && ll.byteLength > 0 ? formatMac(bytesOf(ll)) : null,
    state: state === 0
      ? ["NONE"]
      : NUD.filter(([bit]) => state & bit).map(([, n]) => n),
    family,
  };
}

export function decodeFdb(m: Msg, names: Map<number, string>): Fdb | null {
  const d = m.data;
  if (d.getUint8(0) !== AF_BRIDGE) return null;
  const a = attrs(d, 12);
  const ll = a.get(NDA_LLADDR);
  if (!ll) return null;
  const dst = a.get(NDA_DST);
  const index = d.getInt32(4, true);
  return {
    dev: names.get(index) ?? "",
    index,
    mac: formatMac(bytesOf(ll)),
    dst: dst ? formatIp(bytesOf(dst)) : null,
    self: (d.getUint8(10) & NTF_SELF) !== 0,
    permanent: (d.getUint16(8, true) & NUD_PERMANENT) !== 0,
  };
}
