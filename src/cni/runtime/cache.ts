// libcni's result cache: <cacheDir>/results/<net>-<cid>-<ifname>, a JSON
// object of kind "cniCacheV1" holding the config list (base64), the runtime
// arguments and the result, mode 0600.

import { CniError, ErrorCode } from "../plugin.ts";

export const DEFAULT_CACHE_DIR = "/var/lib/cni";

export interface CacheEntry {
  kind: "cniCacheV1";
  containerId: string;
  /** base64 of the config list bytes. */
  config: string;
  ifName: string;
  networkName: string;
  netns?: string;
  cniArgs?: [string, string][];
  capabilityArgs?: Record<string, unknown>;
  result?: Record<string, unknown>;
}

export function cachePath(
  cacheDir: string,
  net: string,
  cid: string,
  ifname: string,
): string {
  return `${cacheDir.replace(/\/+$/, "")}/results/${net}-${cid}-${ifname}`;
}

function ioError(msg: string, err: unknown): CniError {
  return new CniError(
    ErrorCode.IOFailure,
    `${msg}: ${(err as Error).message}`,
    undefined,
    { cause: err },
  );
}

export function writeCache(cacheDir: string, entry: CacheEntry): void {
  const path = cachePath(
    cacheDir,
    entry.networkName,
    entry.containerId,
    entry.ifName,
  );
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    Deno.mkdirSync(`${cacheDir}/results`, { recursive: true, mode: 0o700 });
    using f = Deno.openSync(tmp, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    f.writeSync(new TextEncoder().encode(JSON.stringify(entry)));
    f.syncSync();
    Deno.renameSync(tmp, path);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not created */ }
    throw ioError(`failed to write result cache ${path}`, err);
  }
}

function parseEntry(text: string): CacheEntry | null {
  try {
    const e = JSON.parse(text);
    return e?.kind === "cniCacheV1" && typeof e.containerId === "string"
      ? e as CacheEntry
      : null;
  } catch {
    return null;
  }
}

export function readCache(
  cacheDir: string,
  net: string,
  cid: string,
  ifname: string,
): CacheEntry | null {
  try {
    return parseEntry(
      Deno.readTextFileSync(cachePath(cacheDir, net, cid, ifname)),
    );
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw ioError("failed to read result cache", err);
  }
}

export function removeCache(
  cacheDir: string,
  net: string,
  cid: string,
  ifname: string,
): void {
  try {
    Deno.removeSync(cachePath(cacheDir, net, cid, ifname));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw ioError("failed to remove result cache", err);
    }
  }
}

/** Every cached attachment of network `net`. */
export function listCache(cacheDir: string, net: string): CacheEntry[] {
  const dir = `${cacheDir.replace(/\/+$/, "")}/results`;
  const out: CacheEntry[] = [];
  let names: string[];
  try {
    names = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) =>
      e.name
    );
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return out;
    throw ioError(`failed to list ${dir}`, err);
  }
  for (const name of names) {
    if (!name.startsWith(`${net}-`) || name.endsWith(".tmp")) continue;
    try {
      const e = parseEntry(Deno.readTextFileSync(`${dir}/${name}`));
      if (e && e.networkName === net) out.push(e);
    } catch {
      // vanished or unreadable: not ours to judge
    }
  }
  return out;
}
