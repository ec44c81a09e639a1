// route_localnet on the host interface toward the container.

import { Netlink, NetlinkError, sysctlSet } from "../../../ffi/mod.ts";
import type { CIDR } from "../../net/mod.ts";

/** Sets route_localnet=1 on the host interface that routes to `c`. */
export function enableLocalnet(c: CIDR): void {
  using nl = Netlink.open();
  const dev = nl.routeGet(c.ip.toString()).dev;
  if (!dev) return;
  try {
    sysctlSet(`net/ipv4/conf/${dev}/route_localnet`, "1");
  } catch (err) {
    if (err instanceof NetlinkError && err.code === "ENOENT") return;
    throw err;
  }
}
