// The admin kubeconfig (K3s's /etc/rancher/k3s/k3s.yaml; weft's
// /etc/weft/weft.yaml), written atomically with a chosen mode.

import { stringify } from "@std/yaml";
import { writeFileAtomic } from "../../util/fs.ts";

export interface AdminKubeconfigOptions {
  path: string;
  /** `--write-kubeconfig-mode`; default 0o600. */
  mode?: number;
  /** e.g. https://127.0.0.1:6443 */
  server: string;
  caPem: string;
  token: string;
  /** Cluster, user and context name; default "default" as K3s. */
  name?: string;
}

export function adminKubeconfig(opts: AdminKubeconfigOptions): string {
  const name = opts.name ?? "default";
  const caData = btoa(opts.caPem);
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name,
      cluster: { server: opts.server, "certificate-authority-data": caData },
    }],
    users: [{ name, user: { token: opts.token } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    "current-context": name,
    preferences: {},
  });
}

export async function writeAdminKubeconfig(
  opts: AdminKubeconfigOptions,
): Promise<void> {
  const mode = opts.mode ?? 0o600;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new RangeError(
      `kubeconfig mode ${mode} is not a file mode; use an octal value such as 600 or 644`,
    );
  }
  await writeFileAtomic(opts.path, adminKubeconfig(opts), { mode });
}

/** Parses `--write-kubeconfig-mode` text ("600", "0644") as octal. */
export function parseFileMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text.trim())) {
    throw new RangeError(
      `${JSON.stringify(text)} is not an octal file mode such as 600 or 644`,
    );
  }
  return parseInt(text.trim(), 8);
}
