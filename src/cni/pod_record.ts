// The record of a container attached through weft's flannel plugin, left
// for the local agent, which turns it into a Pod object (src/cli/cni_pods.ts):
// one small JSON file per container beside flannel's saved configs
// (<dirname of flannel's dataDir>/weft-pods/<container id>, by default
// /var/lib/cni/weft-pods). ADD writes it after everything succeeded, DEL
// removes it. Writing is best effort - no fsync, a failure is only logged:
// the record must never fail or slow a pod's ADD; the agent also drops
// records whose network namespace is gone.

/** What the agent needs to record a container as a Pod. */
export interface PodRecord {
  containerId: string;
  ifname: string;
  /** CNI_NETNS at ADD. */
  netns: string;
  /** K8S_POD_NAMESPACE / K8S_POD_NAME of CNI_ARGS, when given. */
  podNamespace?: string;
  podName?: string;
  /** The container's addresses, without prefix length. */
  ips: string[];
  /** When the ADD finished (RFC 3339). */
  added: string;
}

/** The default record directory (beside /var/lib/cni/flannel). */
export const DEFAULT_POD_RECORD_DIR = "/var/lib/cni/weft-pods";

/** The largest record file read back, and the most records read. */
const MAX_RECORD = 16 * 1024;
const MAX_RECORDS = 4096;

/** The record directory of flannel's `dataDir` (its sibling "weft-pods"). */
export function podRecordDir(flannelDataDir: string): string {
  const d = flannelDataDir.replace(/\/+$/, "");
  const slash = d.lastIndexOf("/");
  return `${slash <= 0 ? "" : d.slice(0, slash)}/weft-pods`;
}

function pathOf(dir: string, cid: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.\-]*$/.test(cid) || cid.length > 255) {
    throw new TypeError(`invalid container id ${JSON.stringify(cid)}`);
  }
  return `${dir}/${cid}`;
}

/** Writes (replaces) the record of `rec.containerId`; throws on failure. */
export function writePodRecord(dir: string, rec: PodRecord): void {
  const path = pathOf(dir, rec.containerId);
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    Deno.writeTextFileSync(tmp, JSON.stringify(rec), { mode: 0o600 });
    Deno.renameSync(tmp, path);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not written */ }
    throw err;
  }
}

/** Removes the record of `cid` (none is fine). */
export function removePodRecord(dir: string, cid: string): void {
  try {
    Deno.removeSync(pathOf(dir, cid));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** A record file's content, validated; null when it is not one. */
export function parsePodRecord(text: string): PodRecord | null {
  let v: Partial<PodRecord> | null;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const str = (x: unknown) => typeof x === "string";
  const optStr = (x: unknown) => x === undefined || str(x);
  if (
    !str(v.containerId) || !str(v.ifname) || !str(v.netns) ||
    !str(v.added) || !optStr(v.podNamespace) || !optStr(v.podName) ||
    !Array.isArray(v.ips) || !v.ips.every(str) || v.ips.length > 16
  ) {
    return null;
  }
  return {
    containerId: v.containerId!,
    ifname: v.ifname!,
    netns: v.netns!,
    podNamespace: v.podNamespace,
    podName: v.podName,
    ips: v.ips,
    added: v.added!,
  };
}

/** Every valid record in `dir` (none when it does not exist). */
export function readPodRecords(dir: string): PodRecord[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  const out: PodRecord[] = [];
  for (const e of entries) {
    if (out.length >= MAX_RECORDS) break;
    if (!e.isFile || e.name.endsWith(".tmp")) continue;
    try {
      const path = `${dir}/${e.name}`;
      if (Deno.statSync(path).size > MAX_RECORD) continue;
      const rec = parsePodRecord(Deno.readTextFileSync(path));
      if (rec && rec.containerId === e.name) out.push(rec);
    } catch { /* removed meanwhile */ }
  }
  return out;
}
