// One address family's view of a lease: its subnet, public IP and
// backend-data.

import type { CIDR, IP } from "../../net/mod.ts";
import type { Lease } from "../lease.ts";

export function leaseSide(
  l: Lease,
  family: 4 | 6,
): { subnet: CIDR | null; publicIP: IP | null; data: unknown } {
  return family === 4
    ? { subnet: l.subnet, publicIP: l.publicIP, data: l.backendData }
    : { subnet: l.ipv6Subnet, publicIP: l.publicIPv6, data: l.backendV6Data };
}

/**
 * A lease's side checked for a peer of `type`: its subnet, public IP and
 * parsed backend-data, or the reason it cannot be used.
 */
export function peerSide<T>(
  l: Lease,
  family: 4 | 6,
  type: string,
  parse: (data: unknown) => T | null,
): { subnet: CIDR; publicIP: IP; data: T } | string {
  const side = leaseSide(l, family);
  if (!side.subnet || !side.publicIP) {
    return `lease of ${l.node} has no IPv${family} subnet`;
  }
  if (l.backendType !== type) {
    return `node ${l.node} runs backend ${
      JSON.stringify(l.backendType)
    }, not ${type}`;
  }
  const data = parse(side.data);
  if (!data) {
    return `node ${l.node} has malformed ${type} backend-data ${
      JSON.stringify(side.data)
    }`;
  }
  return { subnet: side.subnet, publicIP: side.publicIP, data };
}
