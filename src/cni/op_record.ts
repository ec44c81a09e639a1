// One line per plugin run for the local agent, which turns them into
// metrics and FailedCNIAdd events (src/cli/cni_ops.ts). Appended only when
// the agent has created the file (no agent: nothing written), never when it
// has grown past MAX_OPS_LOG (the agent is not draining it), and never
// failing or slowing the operation beyond one open/stat/write/close.

/** Where the agent expects the records (per node, like subnet.env). */
export const OPS_LOG = "/run/flannel/cni-ops.log";
export const MAX_OPS_LOG = 1024 * 1024;
const MAX_ERROR = 512;

export interface OpRecord {
  plugin: string;
  command: string;
  ok: boolean;
  /** Milliseconds the operation took. */
  ms: number;
  containerId?: string;
  /** "namespace/name" from CNI_ARGS, when the runtime gave it. */
  pod?: string;
  error?: string;
}

/** The pod of CNI_ARGS (K8S_POD_NAMESPACE/K8S_POD_NAME), or undefined. */
export function podOf(cniArgs: string | undefined): string | undefined {
  if (!cniArgs || cniArgs.length > 4096) return undefined;
  const get = (k: string) =>
    new RegExp(`(?:^|;)${k}=([a-z0-9.-]{1,253})(?:;|$)`).exec(cniArgs)?.[1];
  const ns = get("K8S_POD_NAMESPACE");
  const name = get("K8S_POD_NAME");
  return ns && name ? `${ns}/${name}` : undefined;
}

/** Appends `rec` to `path` if the file exists and is small; never throws. */
export function appendOpRecord(path: string, rec: OpRecord): void {
  try {
    const line = JSON.stringify({
      ...rec,
      ms: Math.round(rec.ms * 100) / 100,
      containerId: rec.containerId?.slice(0, 128),
      error: rec.error?.slice(0, MAX_ERROR),
    }) + "\n";
    const f = Deno.openSync(path, { append: true });
    try {
      if (f.statSync().size < MAX_OPS_LOG) {
        // One write of a short line: O_APPEND keeps concurrent plugins'
        // lines whole.
        f.writeSync(new TextEncoder().encode(line));
      }
    } finally {
      f.close();
    }
  } catch {
    // no agent listening, or no room: the record is best effort
  }
}
