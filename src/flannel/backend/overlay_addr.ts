// The overlay device's own address: the subnet's network address as a host
// address, and no other address of the cluster Network beside it.

import { CIDR } from "../../net/mod.ts";
import type { Dataplane } from "../dataplane.ts";

/**
 * Gives device `index` the network address of `subnet` (/32 or /128) and
 * removes its other addresses inside `network` (those of an old subnet);
 * true when the address had to be added.
 */
export function ensureOverlayAddr(
  nl: Dataplane,
  index: number,
  family: 4 | 6,
  subnet: CIDR,
  network: CIDR | null,
): boolean {
  const bits = family === 4 ? 32 : 128;
  const want = `${subnet.network().ip}/${bits}`;
  const addrs = nl.addrList({ dev: index, family });
  for (const a of addrs) {
    const c = CIDR.parse(a.cidr);
    if (a.cidr !== want && network && network.contains(c.ip)) {
      nl.addrDel(index, a.cidr);
    }
  }
  if (addrs.some((a) => a.cidr === want)) return false;
  nl.addrAdd(index, want, { nodad: true });
  return true;
}
