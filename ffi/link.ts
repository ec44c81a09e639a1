// RTM_*LINK messages: building link creation/change requests and decoding
// link dumps into Link values.

import { formatIp, formatMac, parseIp, parseMac } from "./_addr.ts";
import {
  attrs,
  be16Of,
  bytesOf,
  type Msg,
  MsgBuilder,
  put32,
  strOf,
  u32Of,
  u8Of,
} from "./_wire.ts";
import type { Link, LinkChange, LinkSpec, VxlanInfo } from "./types.ts";

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;

const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
const IFLA_LINK = 5;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_PROTINFO = 12;
const IFLA_OPERSTATE = 16;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_EXT_MASK = 29;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFLA_BRPORT_MODE = 4;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;

const IFLA_VXLAN_ID = 1;
const IFLA_VXLAN_LINK = 3;
const IFLA_VXLAN_LOCAL = 4;
const IFLA_VXLAN_LEARNING = 7;
const IFLA_VXLAN_PORT = 15;
const IFLA_VXLAN_LOCAL6 = 17;
const IFLA_VXLAN_GBP = 23;

const IFF_UP = 0x1;
const IFF_PROMISC = 0x100;
const AF_BRIDGE = 7;

const OPERSTATES = [
  "unknown",
  "notpresent",
  "down",
  "lowerlayerdown",
  "testing",
  "dormant",
  "up",
];

/** The name itself, or a TypeError for one the kernel would refuse. */
export function checkName(name: string): string {
  if (
    name === "" || name === "." || name === ".." ||
    new TextEncoder().encode(name).length > 15 || /[\s/:]/.test(name)
  ) {
    throw new TypeError(
      `invalid link name "${name}": 1 to 15 bytes without whitespace, "/" or ":"`,
    );
  }
  return name;
}

/** struct ifinfomsg */
export function ifinfomsg(
  index = 0,
  flags = 0,
  change = 0,
  family = 0,
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(16);
  b[0] = family;
  put32(b, 4, index);
  put32(b, 8, flags);
  put32(b, 12, change);
  return b;
}

function decodeVxlan(data: DataView): VxlanInfo {
  const a = attrs(data);
  const local = a.get(IFLA_VXLAN_LOCAL) ?? a.get(IFLA_VXLAN_LOCAL6);
  const dev = a.get(IFLA_VXLAN_LINK);
  const learning = a.get(IFLA_VXLAN_LEARNING);
  return {
    id: a.has(IFLA_VXLAN_ID) ? u32Of(a.get(IFLA_VXLAN_ID)!) : 0,
    port: a.has(IFLA_VXLAN_PORT) ? be16Of(a.get(IFLA_VXLAN_PORT)!) : 0,
    local: local ? formatIp(bytesOf(local)) : null,
    dev: dev && u32Of(dev) !== 0 ? u32Of(dev) : null,
    learning: learning ? u8Of(learning) !== 0 : false,
    gbp: a.has(IFLA_VXLAN_GBP),
  };
}

/** Decodes one RTM_NEWLINK/RTM_DELLINK message. */
export function decodeLink(m: Msg): Link {
  const d = m.data;
  const flags = d.getUint32(8, true);
  const a = attrs(d, 16);
  const info = a.get(IFLA_LINKINFO) ? attrs(a.get(IFLA_LINKINFO)!) : undefined;
  const kind = info?.get(IFLA_INFO_KIND)
    ? strOf(info.get(IFLA_INFO_KIND)!)
    : null;
  const master = a.get(IFLA_MASTER);
  const link: Link = {
    index: d.getInt32(4, true),
    name: a.get(IFLA_IFNAME) ? strOf(a.get(IFLA_IFNAME)!) : "",
    kind,
    mtu: a.get(IFLA_MTU) ? u32Of(a.get(IFLA_MTU)!) : 0,
    mac: a.get(IFLA_ADDRESS) ? formatMac(bytesOf(a.get(IFLA_ADDRESS)!)) : "",
    up: (flags & IFF_UP) !== 0,
    operState:
      OPERSTATES[a.get(IFLA_OPERSTATE) ? u8Of(a.get(IFLA_OPERSTATE)!) : 0] ??
        "unknown",
    master: master && u32Of(master) !== 0 ? u32Of(master) : null,
    promisc: (flags & IFF_PROMISC) !== 0,
  };
  const lower = a.get(IFLA_LINK);
  // (the kernel leaves IFLA_LINK out when it equals the link's own index,
  // even for a veth peer in another namespace that happens to share it)
  if (lower && u32Of(lower) !== 0) {
    link.linkIndex = u32Of(lower);
  }
  const data = info?.get(IFLA_INFO_DATA);
  if (kind === "vxlan" && data) link.vxlan = decodeVxlan(data);
  return link;
}

/** RTM_GETLINK for one link by name or index (no dump). */
export function getLinkMsg(nameOrIndex: string | number): MsgBuilder {
  const b = new MsgBuilder(RTM_GETLINK, 0);
  b.raw(ifinfomsg(typeof nameOrIndex === "number" ? nameOrIndex : 0));
  if (typeof nameOrIndex === "string") {
    b.str(IFLA_IFNAME, checkName(nameOrIndex));
  }
  return b.u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
}

/** RTM_GETLINK dump. */
export function dumpLinkMsg(flags: number): MsgBuilder {
  return new MsgBuilder(RTM_GETLINK, flags).raw(ifinfomsg()).u32(
    IFLA_EXT_MASK,
    RTEXT_FILTER_SKIP_STATS,
  );
}

export function delLinkMsg(nameOrIndex: string | number): MsgBuilder {
  const b = new MsgBuilder(RTM_DELLINK, 0);
  b.raw(ifinfomsg(typeof nameOrIndex === "number" ? nameOrIndex : 0));
  if (typeof nameOrIndex === "string") {
    b.str(IFLA_IFNAME, checkName(nameOrIndex));
  }
  return b;
}

function upFlags(up: boolean | undefined): [number, number] {
  return up === undefined ? [0, 0] : [up ? IFF_UP : 0, IFF_UP];
}

/** Needed to build a link: names resolved to indexes, netns paths to fds. */
export interface LinkDeps {
  resolve(dev: string | number): number;
  nsFd(path: string): number;
}

/** RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL for a new link. */
export function addLinkMsg(
  spec: LinkSpec,
  flags: number,
  deps: LinkDeps,
): MsgBuilder {
  const [f, ch] = upFlags(spec.up);
  const b = new MsgBuilder(RTM_NEWLINK, flags).raw(ifinfomsg(0, f, ch));
  b.str(IFLA_IFNAME, checkName(spec.name));
  if (spec.mtu !== undefined) b.u32(IFLA_MTU, spec.mtu);
  if (spec.mac !== undefined) b.attr(IFLA_ADDRESS, parseMac(spec.mac));
  b.nest(IFLA_LINKINFO).str(IFLA_INFO_KIND, spec.kind);
  if (spec.kind === "vxlan") {
    const x = spec.vxlan;
    if (!Number.isInteger(x.id) || x.id < 0 || x.id > 0xffffff) {
      throw new RangeError(`vxlan id ${x.id} out of range 0..16777215`);
    }
    b.nest(IFLA_INFO_DATA).u32(IFLA_VXLAN_ID, x.id);
    if (x.port !== undefined) b.be16(IFLA_VXLAN_PORT, x.port);
    if (x.local !== undefined) {
      const ip = parseIp(x.local);
      b.attr(ip.family === 4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, ip.bytes);
    }
    if (x.dev !== undefined) b.u32(IFLA_VXLAN_LINK, deps.resolve(x.dev));
    if (x.learning !== undefined) b.u8(IFLA_VXLAN_LEARNING, x.learning ? 1 : 0);
    if (x.gbp) b.flag(IFLA_VXLAN_GBP);
    b.end();
  } else if (spec.kind === "veth") {
    const p = spec.peer;
    b.nest(IFLA_INFO_DATA).nest(VETH_INFO_PEER).raw(ifinfomsg());
    b.str(IFLA_IFNAME, checkName(p.name));
    if (p.mtu !== undefined) b.u32(IFLA_MTU, p.mtu);
    else if (spec.mtu !== undefined) b.u32(IFLA_MTU, spec.mtu);
    if (p.mac !== undefined) b.attr(IFLA_ADDRESS, parseMac(p.mac));
    if (p.netns !== undefined) b.u32(IFLA_NET_NS_FD, deps.nsFd(p.netns));
    b.end().end();
  }
  return b.end();
}

/** RTM_NEWLINK changing an existing link (by index). */
export function setLinkMsg(
  index: number,
  c: LinkChange,
  deps: LinkDeps,
): MsgBuilder {
  let [f, ch] = upFlags(c.up);
  if (c.promisc !== undefined) {
    f |= c.promisc ? IFF_PROMISC : 0;
    ch |= IFF_PROMISC;
  }
  const b = new MsgBuilder(RTM_NEWLINK, 0).raw(ifinfomsg(index, f, ch));
  if (c.name !== undefined) b.str(IFLA_IFNAME, checkName(c.name));
  if (c.mtu !== undefined) b.u32(IFLA_MTU, c.mtu);
  if (c.mac !== undefined) b.attr(IFLA_ADDRESS, parseMac(c.mac));
  if (c.master !== undefined) {
    b.u32(IFLA_MASTER, c.master === null ? 0 : deps.resolve(c.master));
  }
  if (c.netns !== undefined) b.u32(IFLA_NET_NS_FD, deps.nsFd(c.netns));
  return b;
}

/** RTM_SETLINK (AF_BRIDGE) setting a bridge port's hairpin mode. */
export function hairpinMsg(index: number, on: boolean): MsgBuilder {
  return new MsgBuilder(RTM_SETLINK, 0)
    .raw(ifinfomsg(index, 0, 0, AF_BRIDGE))
    .nest(IFLA_PROTINFO, true)
    .u8(IFLA_BRPORT_MODE, on ? 1 : 0)
    .end();
}
