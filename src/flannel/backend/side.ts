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
