// The netlink operations the backends use, as a structural type: ffi's
// Netlink satisfies it, and nothing here depends on how it is implemented.

export interface DpLink {
  index: number;
  name: string;
  kind: string | null;
  mtu: number;
  mac: string;
  up: boolean;
  vxlan?: {
    id: number;
    port: number;
    local: string | null;
    dev: number | null;
    learning: boolean;
    gbp: boolean;
  };
}

export interface DpAddr {
  index: number;
  dev: string;
  family: 4 | 6;
  cidr: string;
  scope: string;
}

export interface DpRouteSpec {
  dst: string;
  gw?: string;
  dev?: string | number;
  onlink?: boolean;
  scope?: "universe" | "site" | "link" | "host" | "nowhere";
  table?: number;
  metric?: number;
  family?: 4 | 6;
}

export interface DpRoute extends DpRouteSpec {
  dst: string;
  family: 4 | 6;
  table: number;
  type: string;
  dev?: string;
  index?: number;
  protocol?: number;
}

export interface DpNeigh {
  dev: string;
  index: number;
  ip: string;
  mac: string | null;
  state: string[];
}

export interface DpFdb {
  dev: string;
  index: number;
  mac: string;
  dst: string | null;
  self: boolean;
  permanent: boolean;
}

export interface Dataplane {
  linkList(): DpLink[];
  linkGet(nameOrIndex: string | number): DpLink | null;
  linkAdd(
    spec: {
      name: string;
      mtu?: number;
      mac?: string;
      up?: boolean;
      kind: "vxlan";
      vxlan: {
        id: number;
        port?: number;
        local?: string;
        dev?: string | number;
        learning?: boolean;
        gbp?: boolean;
      };
    },
  ): DpLink;
  linkDel(nameOrIndex: string | number): void;
  linkSet(
    nameOrIndex: string | number,
    change: { up?: boolean; mtu?: number; mac?: string },
  ): void;
  addrList(filter?: { dev?: string | number; family?: 4 | 6 }): DpAddr[];
  addrAdd(
    dev: string | number,
    cidr: string,
    opts?: { nodad?: boolean },
  ): void;
  addrDel(dev: string | number, cidr: string): void;
  routeList(
    filter?: { family?: 4 | 6; table?: number; dev?: string | number },
  ): DpRoute[];
  routeReplace(r: DpRouteSpec): void;
  routeDel(r: DpRouteSpec): void;
  routeGet(ip: string): DpRoute;
  neighList(filter?: { dev?: string | number; family?: 4 | 6 }): DpNeigh[];
  neighSet(dev: string | number, ip: string, mac: string): void;
  neighDel(dev: string | number, ip: string): void;
  fdbList(dev?: string | number): DpFdb[];
  fdbSet(dev: string | number, mac: string, dst: string): void;
  fdbDel(dev: string | number, mac: string, dst?: string): void;
}

/** errno-style code of a thrown netlink error ("EEXIST"), or null. */
export function errCode(e: unknown): string | null {
  if (typeof e === "object" && e !== null && "code" in e) {
    const c = (e as { code: unknown }).code;
    return typeof c === "string" ? c : null;
  }
  return null;
}
