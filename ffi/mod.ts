/**
 * ffi/: netlink through libnl (Deno FFI), network namespace entry and sysctl.
 * The only folder that calls Deno.dlopen; no pointer leaves it, and every
 * call is synchronous (libnl calls block, briefly).
 *
 * ```ts
 * using nl = Netlink.open({ netns: "/run/netns/x" }); // socket in that netns
 * nl.linkAdd({ name: "flannel.1", kind: "vxlan", vxlan: { id: 1, port: 8472, learning: false } });
 * nl.neighSet("flannel.1", "10.42.2.0", "0a:58:0a:2a:02:00");
 * nl.fdbSet("flannel.1", "0a:58:0a:2a:02:00", "192.168.1.12");
 * nl.routeReplace({ dst: "10.42.2.0/24", gw: "10.42.2.0", dev: "flannel.1", onlink: true });
 * ```
 *
 * Kernel refusals are NetlinkError (`code` "EEXIST", "ENODEV", ..., `op`);
 * malformed input is a TypeError/RangeError quoting it; a host without libnl
 * gives LibraryError on the first call (importing never fails). libnl is
 * looked up in WEFT_LIBNL_DIR when set, else the multiarch directories.
 *
 * @module
 */

export { LibraryError, NetlinkError } from "./errors.ts";
export { Netlink } from "./netlink.ts";
export { genlFamily } from "./genl.ts";
export type { TbfOptions } from "./tc.ts";
export type { AddrOptions } from "./addr.ts";
export {
  type EventStream,
  type LinkEvent,
  linkEvents,
  type LinkEventStream,
  type NetEvent,
  netEvents,
  type NetEventStream,
  type NftEvent,
  nftEvents,
} from "./events.ts";
export { sysctlGet, sysctlSet, withNetns } from "./netns.ts";
export { setListenerNoDelay } from "./sockopt.ts";
export { type Released, releaseStartupMemory, trimMalloc } from "./memory.ts";
export { execSelf, selfArgv } from "./exec.ts";
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
