// The server's own URLs: the one this machine's clients use (admin
// kubeconfig, the local agent) and the one agents join at (recorded for
// `weft token show`). IPv6 addresses are bracketed.

import { httpsURL, isWildcard } from "../net/mod.ts";
import type { WeftConfig } from "./config.ts";

/**
 * The API URL this machine's own clients use (admin kubeconfig, the local
 * agent): the --bind-address when it is a specific address; otherwise
 * loopback of the cluster's primary family (`[::1]` when the first
 * --cluster-cidr is IPv6, as on an IPv6-only host), both in the
 * certificate.
 */
export function localServerURL(
  cfg: Pick<WeftConfig, "bindAddress" | "clusterCIDR">,
  port: number,
): string {
  if (!isWildcard(cfg.bindAddress)) return httpsURL(cfg.bindAddress, port);
  const v6 = cfg.clusterCIDR[0]?.includes(":") ?? false;
  return httpsURL(v6 ? "::1" : "127.0.0.1", port);
}

/**
 * The URL agents join at, as `weft token show` prints it: the
 * --bind-address when specific, else the node's first IP (IPv6 in
 * brackets); null when neither is known.
 */
export function joinURL(
  cfg: Pick<WeftConfig, "bindAddress">,
  nodeIPs: string[],
  port: number,
): string | null {
  if (!isWildcard(cfg.bindAddress)) return httpsURL(cfg.bindAddress, port);
  return nodeIPs.length ? httpsURL(nodeIPs[0], port) : null;
}

/** Where the server records its join URL for `weft token show`. */
export const joinURLFile = (dataDir: string) => `${dataDir}/server/join-url`;
