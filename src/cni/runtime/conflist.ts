// Network configuration lists (.conflist) as libcni loads them.

import { ioFailure } from "../files.ts";
import { CniError, ErrorCode } from "../plugin.ts";
import { compareVersions, isSupported } from "../version.ts";
import { validateNetworkName } from "../validate.ts";

export interface ConfList {
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  disableGC: boolean;
  /** Each plugin's raw config (type, capabilities, plugin keys). */
  plugins: Record<string, unknown>[];
  /** The bytes it was loaded from (kept in the result cache). */
  bytes: Uint8Array;
}

function invalid(msg: string): CniError {
  return new CniError(ErrorCode.InvalidNetworkConfig, msg);
}

/** Parses a conflist; a single-plugin .conf is accepted as a list of one. */
export function parseConfList(
  bytes: Uint8Array,
  source = "conflist",
): ConfList {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `error parsing ${source}: ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `${source} is not a JSON object`,
    );
  }
  validateNetworkName(raw.name);
  let plugins: unknown = raw.plugins;
  if (plugins === undefined && typeof raw.type === "string") {
    const { cniVersion: _v, name: _n, ...one } = raw;
    plugins = [one];
  }
  if (!Array.isArray(plugins) || plugins.length === 0) {
    throw invalid(`${source}: no plugins in list`);
  }
  for (const [i, p] of plugins.entries()) {
    if (
      typeof p !== "object" || p === null || typeof p.type !== "string" ||
      !p.type
    ) {
      throw invalid(`${source}: plugin ${i} has no "type"`);
    }
  }
  return {
    name: raw.name as string,
    cniVersion: pickVersion(raw),
    disableCheck: raw.disableCheck === true || raw.disableCheck === "true",
    disableGC: raw.disableGC === true || raw.disableGC === "true",
    plugins: plugins as Record<string, unknown>[],
    bytes,
  };
}

/** `cniVersions` (highest one weft speaks) wins over `cniVersion`. */
function pickVersion(raw: Record<string, unknown>): string {
  if (Array.isArray(raw.cniVersions)) {
    const ok = raw.cniVersions.filter((v): v is string =>
      typeof v === "string" && isSupported(v)
    ).sort(compareVersions);
    if (ok.length) return ok[ok.length - 1];
  }
  const v = raw.cniVersion;
  if (v === undefined || v === "") return "0.1.0";
  if (typeof v !== "string") throw invalid(`cniVersion must be a string`);
  return v;
}

export async function loadConfList(path: string): Promise<ConfList> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw ioFailure(`cannot read ${path}`, err);
  }
  return parseConfList(bytes, path);
}
