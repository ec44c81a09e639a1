// ffi/: netlink through libnl (Deno FFI) and network namespace entry.
// Pointers never leave this folder; everything here is synchronous.

export { LibraryError, NetlinkError } from "./errors.ts";
export { Netlink } from "./netlink.ts";
export { genlFamily } from "./genl.ts";
export type { TbfOptions } from "./tc.ts";
export type { AddrOptions } from "./addr.ts";
export { type LinkEvent, linkEvents, type LinkEventStream } from "./events.ts";
export { sysctlGet, sysctlSet, withNetns } from "./netns.ts";
export type {
  Addr,
  Fdb,
  Link,
  LinkChange,
  LinkSpec,
  Neigh,
  Qdisc,
  Route,
  RouteSpec,
  RouteType,
  Scope,
  VxlanInfo,
} from "./types.ts";
