// The cluster-wide settings agents take from their server (K3s serves them
// at /v1-k3s/config): `GET /v1-weft/config`, for any authenticated caller.

import type { Hono } from "hono";
import type { Identity } from "../api/auth/mod.ts";
import type { KubeClient } from "../kube/mod.ts";
import type { WeftConfig } from "./config.ts";
import { authenticatedGet } from "./run.ts";

export const CONFIG_PATH = "/v1-weft/config";

/** The settings of WeftConfig that are the cluster's, not the node's. */
export type ClusterConfig = Pick<
  WeftConfig,
  | "clusterCIDR"
  | "serviceCIDR"
  | "clusterDNS"
  | "clusterDomain"
  | "flannelBackend"
  | "flannelIPv6Masq"
  | "flannelExternalIP"
  | "egressSelectorMode"
  | "disableNetworkPolicy"
>;

export class ClusterConfigError extends Error {
  override name = "ClusterConfigError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export function clusterConfigOf(cfg: WeftConfig): ClusterConfig {
  return {
    clusterCIDR: cfg.clusterCIDR,
    serviceCIDR: cfg.serviceCIDR,
    clusterDNS: cfg.clusterDNS,
    clusterDomain: cfg.clusterDomain,
    flannelBackend: cfg.flannelBackend,
    flannelIPv6Masq: cfg.flannelIPv6Masq,
    flannelExternalIP: cfg.flannelExternalIP,
    egressSelectorMode: cfg.egressSelectorMode,
    disableNetworkPolicy: cfg.disableNetworkPolicy,
  };
}

/** The route, for `createApp({ extraRoutes })`. */
export function clusterConfigRoutes(
  config: ClusterConfig,
  authenticate: (req: Request) => Promise<Identity | null>,
): (app: Hono) => void {
  return authenticatedGet(CONFIG_PATH, authenticate, (c) => c.json(config));
}

/** Reads the cluster settings from the server the client talks to. */
export async function fetchClusterConfig(
  client: KubeClient,
): Promise<ClusterConfig> {
  const res = await client.raw("GET", CONFIG_PATH);
  const text = await res.text();
  if (!res.ok) {
    throw new ClusterConfigError(
      `GET ${CONFIG_PATH} answered ${res.status}: ${text.slice(0, 200)}`,
    );
  }
  try {
    return JSON.parse(text) as ClusterConfig;
  } catch (e) {
    throw new ClusterConfigError(
      `GET ${CONFIG_PATH}: not JSON: ${text.slice(0, 200)}`,
      {
        cause: e,
      },
    );
  }
}
