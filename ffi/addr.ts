// RTM_*ADDR messages: interface addresses (IPv4 and IPv6) with scope.

import { formatIp, maskBytes, parseCidr } from "./_addr.ts";
import { attrs, bytesOf, type Msg, MsgBuilder, put32 } from "./_wire.ts";
import type { Addr, Scope } from "./types.ts";

export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_BROADCAST = 4;
const IFA_FLAGS = 8;
const IFA_F_NODAD = 0x02;

export interface AddrOptions {
  scope?: Scope;
  /** IPv4: also set the broadcast address of the subnet. */
  broadcast?: boolean;
  /** IPv6: skip duplicate address detection (usable at once). */
  nodad?: boolean;
}

export const AF_INET = 2;
export const AF_INET6 = 10;

const SCOPES: Record<Scope, number> = {
  universe: 0,
  site: 200,
  link: 253,
  host: 254,
  nowhere: 255,
};

export function scopeNum(s: Scope): number {
  const n = SCOPES[s];
  if (n === undefined) {
    throw new TypeError(
      `invalid scope "${s}": use ${Object.keys(SCOPES).join(", ")}`,
    );
  }
  return n;
}

export function scopeName(n: number): Scope {
  return (Object.keys(SCOPES) as Scope[]).find((k) => SCOPES[k] === n) ??
    "universe";
}

export const afOf = (family: 4 | 6) => (family === 4 ? AF_INET : AF_INET6);
export const familyOf = (
  af: number,
): 4 | 6 | null => (af === AF_INET ? 4 : af === AF_INET6 ? 6 : null);

/** struct ifaddrmsg */
function ifaddrmsg(
  af: number,
  prefix: number,
  scope: number,
  index: number,
): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(8);
  b[0] = af;
  b[1] = prefix;
  b[3] = scope;
  put32(b, 4, index);
  return b;
}

/** RTM_NEWADDR / RTM_DELADDR for `cidr` on link `index`. */
export function addrMsg(
  type: number,
  flags: number,
  index: number,
  cidr: string,
  opts: AddrOptions = {},
): MsgBuilder {
  const a = parseCidr(cidr);
  const loopback = a.family === 4 && a.bytes[0] === 127;
  const scope = opts.scope !== undefined
    ? scopeNum(opts.scope)
    : loopback
    ? SCOPES.host
    : 0;
  const b = new MsgBuilder(type, flags).raw(
    ifaddrmsg(afOf(a.family), a.prefix, scope, index),
  );
  b.attr(IFA_LOCAL, a.bytes).attr(IFA_ADDRESS, a.bytes);
  if (opts.nodad && a.family === 6) b.u32(IFA_FLAGS, IFA_F_NODAD);
  if (opts.broadcast && a.family === 4 && a.prefix < 31) {
    const bcast = maskBytes(a.bytes, a.prefix);
    const host = new DataView(bcast.buffer);
    host.setUint32(0, host.getUint32(0) | (0xffffffff >>> a.prefix));
    b.attr(IFA_BROADCAST, bcast);
  }
  return b;
}

export function dumpAddrMsg(flags: number, family?: 4 | 6): MsgBuilder {
  return new MsgBuilder(RTM_GETADDR, flags).raw(
    ifaddrmsg(family ? afOf(family) : 0, 0, 0, 0),
  );
}

/** Decodes an RTM_NEWADDR message; null for families other than IPv4/IPv6. */
export function decodeAddr(m: Msg, names: Map<number, string>): Addr | null {
  const d = m.data;
  const family = familyOf(d.getUint8(0));
  if (family === null) return null;
  const index = d.getUint32(4, true);
  const a = attrs(d, 8);
  const ip = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
  if (!ip) return null;
  return {
    index,
    dev: names.get(index) ?? "",
    family,
    cidr: `${formatIp(bytesOf(ip))}/${d.getUint8(1)}`,
    scope: scopeName(d.getUint8(3)),
  };
}
