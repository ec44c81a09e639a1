// The node's addresses when --node-ip is not given: the first global
// address of the interface that holds the default route, per family (as
// K3s does), the cluster's primary family first.

import { Netlink } from "../../ffi/mod.ts";

export class NodeIPError extends Error {
  override name = "NodeIPError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export interface DetectOptions {
  netns?: string;
  /** The cluster's primary family (of its first --cluster-cidr): its
   * address comes first, as K3s wants the node IPs of an IPv6-primary
   * dual-stack cluster (default 4). */
  primary?: 4 | 6;
}

/**
 * The default-route interface's first global address of each family, the
 * primary family first. An IPv6-only host (no IPv4 default route) gives its
 * IPv6 address alone.
 */
export function detectNodeIPs(opts: DetectOptions = {}): string[] {
  using nl = Netlink.open({ netns: opts.netns });
  const out: string[] = [];
  const order = opts.primary === 6 ? [6, 4] as const : [4, 6] as const;
  for (const family of order) {
    const def = nl.routeList({ family }).find((r) =>
      (r.dst === "0.0.0.0/0" || r.dst === "::/0") && r.dev !== undefined
    );
    if (!def?.dev) continue;
    const addr = nl.addrList({ dev: def.dev, family }).find((a) =>
      a.scope === "universe"
    );
    if (addr) out.push(addr.cidr.split("/")[0]);
  }
  if (out.length === 0) {
    throw new NodeIPError(
      "cannot find the node's IP: no default route (IPv4 or IPv6) with a global address; pass --node-ip",
    );
  }
  return out;
}

/** The family of a cluster's first CIDR (4 when there is none). */
export function primaryFamily(clusterCIDRs: readonly string[]): 4 | 6 {
  return clusterCIDRs[0]?.includes(":") ? 6 : 4;
}
