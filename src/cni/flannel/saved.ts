// The delegate config flannel saves per container for DEL:
// <dataDir>/<containerID>, directory 0700, file 0600, written atomically
// (temp, fsync, rename) before the delegate ADD runs; an agent serving the
// ADD fsyncs after its answer (PluginContext.defer).

import { syncFileSync, writeFileAtomicSync } from "../../util/fs.ts";
import { ioFailure } from "../files.ts";
import { CniError, type Deferred, ErrorCode } from "../plugin.ts";

function pathOf(dataDir: string, cid: string): string {
  if (!cid || cid.includes("/") || cid.startsWith(".")) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      `invalid container id "${cid}"`,
    );
  }
  return `${dataDir.replace(/\/+$/, "")}/${cid}`;
}

/**
 * Saves the delegate config; with `defer` (an agent serving the ADD) its
 * fsync runs after the answer - a crash in between is no worse than a lost
 * file: DEL renders the delegate again from subnet.env.
 */
export function saveConf(
  dataDir: string,
  cid: string,
  text: string,
  defer?: (work: Deferred) => void,
): void {
  const path = pathOf(dataDir, cid);
  try {
    writeFileAtomicSync(path, text, !defer);
  } catch (err) {
    throw ioFailure(`failed to save delegate config ${path}`, err);
  }
  defer?.(() => syncFileSync(path));
}

/** The saved text, or null when there is none. */
export function readConf(dataDir: string, cid: string): string | null {
  const path = pathOf(dataDir, cid);
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw ioFailure(`failed to read delegate config ${path}`, err);
  }
}

export function removeConf(dataDir: string, cid: string): void {
  removeQuietly(pathOf(dataDir, cid));
}

/** Container ids with a saved config. */
export function savedIds(dataDir: string): string[] {
  try {
    return [...Deno.readDirSync(dataDir)]
      .filter((e) => e.isFile && !e.name.endsWith(".tmp"))
      .map((e) => e.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw ioFailure(`failed to list ${dataDir}`, err);
  }
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
