// Node i of a dual-stack backend test: its backend configured with
// 10.42.<i+1>.0/24 and fd42:0:0:<i+1>::/64, and the lease it publishes.

import { CIDR, IP } from "../../../src/net/mod.ts";
import type { Lease } from "../../../src/flannel/mod.ts";
import type { Backend } from "../../../src/flannel/backend/mod.ts";

/** Configures `be` with node `i`'s subnets; its lease from public IP `ip`. */
export async function configureDual(
  be: Backend,
  i: number,
  ip: string,
  backendType: string,
): Promise<Lease> {
  const subnet = CIDR.parse(`10.42.${i + 1}.0/24`);
  const ipv6Subnet = CIDR.parse(`fd42:0:0:${i + 1}::/64`);
  await be.configure({ subnet, ipv6Subnet });
  return {
    node: `n${i}`,
    subnet,
    ipv6Subnet,
    publicIP: IP.parse(ip),
    publicIPv6: IP.parse(`fd00:77::${i + 1}`),
    backendType,
    backendData: be.backendData(),
    backendV6Data: be.backendV6Data(),
  };
}
