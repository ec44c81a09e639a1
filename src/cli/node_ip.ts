// The node's addresses when --node-ip is not given: the first global
// address of the interface that holds the default route (as K3s does).

import { Netlink } from "../../ffi/mod.ts";

export class NodeIPError extends Error {
  override name = "NodeIPError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The default-route interface's first global IPv4 (and IPv6) address. */
export function detectNodeIPs(opts: { netns?: string } = {}): string[] {
  using nl = Netlink.open(opts);
  const out: string[] = [];
  for (const family of [4, 6] as const) {
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
      "cannot find the node's IP: no default route with a global address; pass --node-ip",
    );
  }
  return out;
}
