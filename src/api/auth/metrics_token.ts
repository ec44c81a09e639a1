// The metrics credential: a bearer token of a read-only identity that may
// scrape /metrics (the server's, and the agents' through the node proxy) and
// nothing else - kube-apiserver's `system:monitoring` group. The server
// writes it once to <data-dir>/server/cred/metrics-token (0600); give it to
// Prometheus as its bearer token (`authorization.credentials_file`).

import { join } from "node:path";
import { randomSecret } from "../../tls/mod.ts";
import { readTextIfExists, writeFileAtomic } from "../../util/fs.ts";
import { credDir } from "./credentials.ts";
import type { Identity } from "./identity.ts";

export const MONITORING_GROUP = "system:monitoring";
export const MONITORING_USER = "system:weft-monitoring";
export const METRICS_TOKEN_PREFIX = "weft-metrics:";

export function monitoringIdentity(): Identity {
  return {
    user: MONITORING_USER,
    groups: [MONITORING_GROUP, "system:authenticated"],
  };
}

/** Whether the identity may read /metrics: admin or system:monitoring. */
export function isMonitoring(id: Identity): boolean {
  return id.groups.includes(MONITORING_GROUP);
}

export function metricsTokenPath(dataDir: string): string {
  return join(credDir(dataDir), "metrics-token");
}

/** The metrics bearer token (created on first use, 0600). */
export async function ensureMetricsToken(dataDir: string): Promise<string> {
  const path = metricsTokenPath(dataDir);
  const have = (await readTextIfExists(path))?.trim();
  if (have) return have;
  const token = `${METRICS_TOKEN_PREFIX}${randomSecret(32)}`;
  await writeFileAtomic(path, token + "\n", { mode: 0o600 });
  return token;
}
