// Interface and address selection: --flannel-iface (a name or an address),
// the interface holding --node-ip, or the default-route interface; its
// first global address; the public address (node-ip, or the interface
// address) and the public-ip-overwrite from --node-external-ip when
// --flannel-external-ip is set.

import { CIDR, IP } from "../net/mod.ts";
import type { Dataplane, DpLink } from "./dataplane.ts";
import { FlannelError } from "./errors.ts";
import type { ExternalInterface } from "./backend/mod.ts";

export interface IfaceInput {
  /** --flannel-iface: an interface name or one of its addresses. */
  iface?: string;
  /** --node-ip (at most one per family). */
  nodeIPs?: string[];
  /** --node-external-ip. */
  nodeExternalIPs?: string[];
  /** --flannel-external-ip: publish the external IPs as public-ip-overwrite. */
  flannelExternalIP?: boolean;
}

export interface Selection extends ExternalInterface {
  /** public-ip-overwrite / public-ipv6-overwrite to publish, if any. */
  overwrite: IP | null;
  overwrite6: IP | null;
}

function ipsOf(list: string[] | undefined, flag: string): IP[] {
  return (list ?? []).map((t) => {
    const ip = IP.tryParse(t);
    if (!ip) throw new FlannelError(`${flag}: invalid IP address "${t}"`);
    return ip;
  });
}

function addrsOf(nl: Dataplane, index: number, family: 4 | 6) {
  return nl.addrList({ dev: index, family })
    .map((a) => ({ ...a, ip: CIDR.parse(a.cidr).ip }))
    .filter((a) =>
      !(a.family === 6 && a.ip.toString().toLowerCase().startsWith("fe80:"))
    );
}

function linkWithAddr(nl: Dataplane, ip: IP): DpLink | null {
  const a = nl.addrList({ family: ip.family }).find((a) =>
    CIDR.parse(a.cidr).ip.equals(ip)
  );
  return a ? nl.linkGet(a.index) : null;
}

function defaultRouteLink(nl: Dataplane, family: 4 | 6): DpLink | null {
  const dst = family === 4 ? "0.0.0.0/0" : "::/0";
  const routes = nl.routeList({ family, table: 254 })
    .filter((r) => r.dst === dst && r.index !== undefined)
    .sort((a, b) => (a.metric ?? 0) - (b.metric ?? 0));
  return routes.length ? nl.linkGet(routes[0].index!) : null;
}

/** Picks the external interface and addresses flannel uses. */
export function selectInterface(
  nl: Dataplane,
  input: IfaceInput,
  families: { v4: boolean; v6: boolean } = { v4: true, v6: false },
): Selection {
  const nodeIPs = ipsOf(input.nodeIPs, "--node-ip");
  const extIPs = ipsOf(input.nodeExternalIPs, "--node-external-ip");
  const node4 = nodeIPs.find((i) => i.family === 4) ?? null;
  const node6 = nodeIPs.find((i) => i.family === 6) ?? null;
  let link: DpLink | null = null;
  let pinned: IP | null = null;
  if (input.iface) {
    pinned = IP.tryParse(input.iface);
    link = pinned ? linkWithAddr(nl, pinned) : nl.linkGet(input.iface);
    if (!link) {
      throw new FlannelError(
        `--flannel-iface ${input.iface}: no such ${
          pinned ? "address on any interface" : "interface"
        }`,
      );
    }
  } else {
    const hint = node4 ?? node6;
    link = hint ? linkWithAddr(nl, hint) : null;
    link ??= defaultRouteLink(nl, families.v4 ? 4 : 6) ??
      (families.v6 ? defaultRouteLink(nl, 6) : null);
    if (!link) {
      throw new FlannelError(
        "no default route to find the flannel interface; set --flannel-iface or --node-ip",
      );
    }
  }
  const pick = (family: 4 | 6, node: IP | null): IP | null => {
    if (pinned?.family === family) return pinned;
    const addrs = addrsOf(nl, link!.index, family);
    if (node && addrs.some((a) => a.ip.equals(node))) return node;
    const global = addrs.find((a) => a.scope !== "link");
    return (global ?? addrs[0])?.ip ?? null;
  };
  const ifaceAddr = families.v4 ? pick(4, node4) : null;
  const ifaceAddr6 = families.v6 ? pick(6, node6) : null;
  if (families.v4 && !ifaceAddr) {
    throw new FlannelError(
      `interface ${link.name} has no IPv4 address; set --flannel-iface`,
    );
  }
  if (families.v6 && !ifaceAddr6) {
    throw new FlannelError(
      `interface ${link.name} has no IPv6 address; set --flannel-iface`,
    );
  }
  const ext4 = extIPs.find((i) => i.family === 4) ?? null;
  const ext6 = extIPs.find((i) => i.family === 6) ?? null;
  return {
    name: link.name,
    index: link.index,
    mtu: link.mtu,
    ifaceAddr,
    ifaceAddr6,
    extAddr: families.v4 ? node4 ?? ifaceAddr : null,
    extAddr6: families.v6 ? node6 ?? ifaceAddr6 : null,
    overwrite: input.flannelExternalIP ? ext4 : null,
    overwrite6: input.flannelExternalIP ? ext6 : null,
  };
}
