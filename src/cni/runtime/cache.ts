// libcni's result cache: <cacheDir>/results/<net>-<cid>-<ifname>, a JSON
// object of kind "cniCacheV1" holding the config list (base64), the runtime
// arguments and the result, mode 0600.

import { writeFileAtomicSync } from "../../util/fs.ts";
import { ioFailure } from "../files.ts";

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

export function writeCache(cacheDir: string, entry: CacheEntry): void {
  const path = cachePath(
    cacheDir,
    entry.networkName,
    entry.containerId,
    entry.ifName,
  );
  try {
    writeFileAtomicSync(path, JSON.stringify(entry));
  } catch (err) {
    throw ioFailure(`failed to write result cache ${path}`, err);
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
    throw ioFailure("failed to read result cache", err);
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
      throw ioFailure("failed to remove result cache", err);
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
    throw ioFailure(`failed to list ${dir}`, err);
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
