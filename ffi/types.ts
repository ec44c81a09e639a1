// The public shapes of links, addresses, routes, neighbours and FDB entries.

export type Scope = "universe" | "site" | "link" | "host" | "nowhere";

export interface VxlanInfo {
  id: number;
  port: number;
  local: string | null;
  dev: number | null;
  learning: boolean;
  gbp: boolean;
}

export interface Link {
  index: number;
  name: string;
  /** "vxlan", "bridge", "veth", "dummy", "wireguard", "ifb", ...; null for plain devices (lo, ...). */
  kind: string | null;
  mtu: number;
  mac: string;
  /** IFF_UP (administratively up). */
  up: boolean;
  /** "up", "down", "unknown", "lowerlayerdown", ... */
  operState: string;
  /** Index of the master (bridge) or null. */
  master: number | null;
  promisc: boolean;
  /**
   * IFLA_LINK: for a veth the peer's index (in the peer's namespace), for a
   * vlan/macvlan the lower device; absent when none.
   */
  linkIndex?: number;
  vxlan?: VxlanInfo;
}

export type LinkSpec =
  & { name: string; mtu?: number; mac?: string; up?: boolean }
  & (
    | {
      kind: "vxlan";
      vxlan: {
        id: number;
        port?: number;
        local?: string;
        dev?: string | number;
        learning?: boolean;
        gbp?: boolean;
      };
    }
    | { kind: "bridge" }
    | { kind: "dummy" }
    | { kind: "ifb" }
    | { kind: "wireguard" }
    | {
      kind: "veth";
      peer: { name: string; netns?: string; mac?: string; mtu?: number };
    }
  );

export interface LinkChange {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** Bridge to enslave to; null removes the master. */
  master?: string | number | null;
  /** Network namespace path to move the link into. */
  netns?: string;
  name?: string;
  promisc?: boolean;
}

export interface Addr {
  index: number;
  dev: string;
  family: 4 | 6;
  /** "10.42.1.0/32": the address itself with its prefix length. */
  cidr: string;
  scope: Scope;
}

export type RouteType =
  | "unicast"
  | "blackhole"
  | "local"
  | "unreachable"
  | "prohibit"
  | "broadcast"
  | "anycast"
  | "multicast"
  | "throw";

export interface RouteSpec {
  /** "default" or a CIDR. */
  dst: string;
  gw?: string;
  dev?: string | number;
  onlink?: boolean;
  scope?: Scope;
  /** Routing table; main (254) when absent. */
  table?: number;
  type?: RouteType;
  metric?: number;
  src?: string;
  mtu?: number;
  advmss?: number;
  /** Needed for "default"; 4 when absent. */
  family?: 4 | 6;
  /**
   * rtm_protocol: who made the route (2 kernel, 3 boot, 4 static, ...);
   * 3 (boot, as iproute2) when adding and absent. On delete, only a route
   * of this protocol matches (any when absent).
   */
  protocol?: number;
}

export interface Route extends RouteSpec {
  /** Normalized CIDR ("0.0.0.0/0" for default). */
  dst: string;
  family: 4 | 6;
  table: number;
  scope: Scope;
  type: RouteType;
  dev?: string;
  index?: number;
  protocol?: number;
}

export interface Neigh {
  dev: string;
  index: number;
  ip: string;
  mac: string | null;
  /** NUD states, e.g. ["PERMANENT"]. */
  state: string[];
}

export interface Fdb {
  dev: string;
  index: number;
  mac: string;
  dst: string | null;
  self: boolean;
  permanent: boolean;
}

export interface Qdisc {
  dev: string;
  kind: string;
  /** "root", or "maj:min" in hex as tc prints it ("ffff:fff1" for ingress). */
  parent: string;
  /** "1:", "ffff:", ... */
  handle: string;
}
