// What weft may write and remove in the routing table: its routes carry
// their own protocol number, and a route for a lease is written only when no
// route of someone else's holds that destination and the lease does not lie
// in (or contain) a connected network of the node.

import { CIDR, type IP } from "../net/mod.ts";
import type { Dataplane, DpRoute } from "./dataplane.ts";

/**
 * rtm_protocol of the routes weft's flannel writes ("proto 87" in `ip
 * route`); only routes with it (or on weft's own overlay device) are ever
 * replaced or removed.
 */
export const WEFT_ROUTE_PROTO = 87;

const RTPROT_KERNEL = 2;

/** Whether a route has the metric weft writes (none: 0, IPv6 1024). */
export function defaultMetric(r: { family?: 4 | 6; metric?: number }): boolean {
  return (r.metric ?? 0) === (r.family === 6 ? 1024 : 0);
}

/** A route the kernel made for an address (a connected network). */
export function isConnected(r: { protocol?: number }): boolean {
  return r.protocol === RTPROT_KERNEL;
}

/**
 * Why a route to `dst` must not be written, or null when it may. `ours`
 * tells a route weft may replace (its protocol, or its overlay device);
 * `hostAddrs` are the node's underlay addresses, which no lease may cover.
 */
export function routeConflict(
  nl: Dataplane,
  dst: CIDR,
  ours: (r: DpRoute) => boolean,
  hostAddrs: (IP | null)[] = [],
): string | null {
  for (const a of hostAddrs) {
    if (a && dst.contains(a)) return `${dst} contains this node's address ${a}`;
  }
  let r: DpRoute;
  try {
    r = nl.routeGet(dst.ip.toString(), { fibMatch: true });
  } catch {
    return null; // no route at all reaches it
  }
  if (r.type === "local") return `${dst.ip} is an address of this node`;
  if (ours(r)) return null;
  const have = CIDR.tryParse(r.dst);
  if (!have) return null;
  const same = have.prefix === dst.prefix;
  if (!same && !(have.prefix < dst.prefix && isConnected(r))) return null;
  // Refused: name the route as `ip route` would.
  const dev = r.index === undefined ? null : nl.linkGet(r.index)?.name;
  const via = `${r.gw ? ` via ${r.gw}` : ""}${dev ? ` dev ${dev}` : ""}`;
  if (same) {
    return `route ${r.dst}${via} (proto ${r.protocol}) exists and is not weft's`;
  }
  return `${dst} lies inside the connected network ${r.dst}${via}`;
}
