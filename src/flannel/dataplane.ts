// The netlink operations the backends use, as a structural type over ffi's
// public shapes: ffi's Netlink satisfies it, and nothing here depends on how
// it is implemented.

import type {
  Addr,
  Fdb,
  Link,
  LinkChange,
  LinkSpec,
  Neigh,
  Route,
  RouteSpec,
} from "../../ffi/mod.ts";

export type DpLink = Pick<
  Link,
  "index" | "name" | "kind" | "mtu" | "mac" | "up" | "vxlan"
>;
export type DpAddr = Addr;
export type DpRouteSpec = Pick<
  RouteSpec,
  | "dst"
  | "gw"
  | "dev"
  | "onlink"
  | "scope"
  | "table"
  | "metric"
  | "family"
  | "protocol"
>;
export type DpRoute =
  & DpRouteSpec
  & Pick<
    Route,
    "dst" | "family" | "table" | "type" | "dev" | "index" | "scope"
  >;
export type DpNeigh = Neigh;
export type DpFdb = Fdb;

export interface Dataplane {
  linkList(): DpLink[];
  linkGet(nameOrIndex: string | number): DpLink | null;
  linkAdd(spec: Extract<LinkSpec, { kind: "vxlan" }>): DpLink;
  linkDel(nameOrIndex: string | number): void;
  linkSet(
    nameOrIndex: string | number,
    change: Pick<LinkChange, "up" | "mtu" | "mac">,
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
  routeGet(ip: string, opts?: { fibMatch?: boolean }): DpRoute;
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
