// net-conf.json: flannel's network configuration, its defaults and
// validation (key names are case-insensitive, as Go's encoding/json reads
// them), and the per-backend file K3s generates.

import { CIDR } from "../net/mod.ts";
import { NetConfError } from "./errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import {
  BACKEND_FLAGS,
  BACKEND_NAMES,
  BACKEND_TYPES,
  type BackendType,
  orList,
} from "./backend/names.ts";

export type { BackendType };

export interface BackendConf {
  type: BackendType;
  /** vxlan: VNI (default 1). */
  vni: number;
  /** vxlan: UDP port; 0 means the kernel default 8472. */
  port: number;
  /** Backend MTU override; 0 means the uplink's MTU. */
  mtu: number;
  gbp: boolean;
  learning: boolean;
  directRouting: boolean;
  /** wireguard keys, parsed so a file written for flannel validates. */
  listenPort: number;
  listenPortV6: number;
  persistentKeepaliveInterval: number;
  psk: string;
  mode: "separate" | "auto" | "ipv4" | "ipv6";
}

export interface NetConf {
  network: CIDR | null;
  ipv6Network: CIDR | null;
  enableIPv4: boolean;
  enableIPv6: boolean;
  enableNFTables: boolean;
  subnetLen: number;
  subnetMin: CIDR | null;
  subnetMax: CIDR | null;
  ipv6SubnetLen: number;
  backend: BackendConf;
}

type Obj = Record<string, unknown>;

/** Looks a key up case-insensitively; returns [canonical path, value]. */
function field(obj: Obj, key: string): unknown {
  const want = key.toLowerCase();
  for (const [k, v] of Object.entries(obj)) {
    if (k.toLowerCase() === want) return v;
  }
  return undefined;
}

function bool(obj: Obj, key: string, path: string, def: boolean): boolean {
  const v = field(obj, key);
  if (v === undefined || v === null) return def;
  if (typeof v !== "boolean") {
    throw new NetConfError(path, `must be true or false, got ${show(v)}`);
  }
  return v;
}

function int(
  obj: Obj,
  key: string,
  path: string,
  def: number,
  min: number,
  max: number,
): number {
  const v = field(obj, key);
  if (v === undefined || v === null) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new NetConfError(
      path,
      `must be an integer from ${min} to ${max}, got ${show(v)}`,
    );
  }
  return v;
}

function str(obj: Obj, key: string, path: string): string | undefined {
  const v = field(obj, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") {
    throw new NetConfError(path, `must be a string, got ${show(v)}`);
  }
  return v;
}

function cidr(obj: Obj, key: string, family: 4 | 6): CIDR | null {
  const text = str(obj, key, key);
  if (text === undefined || text === "") return null;
  const c = CIDR.tryParse(text);
  if (!c || c.family !== family) {
    throw new NetConfError(
      key,
      `must be an IPv${family} CIDR like ${
        family === 4 ? "10.42.0.0/16" : "2001:cafe:42::/56"
      }, got ${show(text)}`,
    );
  }
  return c.network();
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

const BY_TYPE = new Map<string, BackendType>(
  BACKEND_TYPES.map((t) => [t, t]),
);

function parseBackend(raw: unknown): BackendConf {
  const b: Obj = raw === undefined || raw === null ? {} : raw as Obj;
  if (typeof b !== "object" || Array.isArray(b)) {
    throw new NetConfError("Backend", `must be an object, got ${show(raw)}`);
  }
  const t = (str(b, "Type", "Backend.Type") ?? "vxlan").toLowerCase();
  const type = BY_TYPE.get(t);
  if (!type) {
    throw new NetConfError(
      "Backend.Type",
      `unknown backend ${show(t)}; use ${orList(BACKEND_TYPES)}`,
    );
  }
  const mode = (str(b, "Mode", "Backend.Mode") ?? "separate").toLowerCase();
  if (!["separate", "auto", "ipv4", "ipv6"].includes(mode)) {
    throw new NetConfError(
      "Backend.Mode",
      `must be separate, auto, ipv4 or ipv6, got ${show(mode)}`,
    );
  }
  return {
    type,
    vni: int(b, "VNI", "Backend.VNI", 1, 0, 0xffffff),
    port: int(b, "Port", "Backend.Port", 0, 0, 65535),
    mtu: int(b, "MTU", "Backend.MTU", 0, 0, 65535),
    gbp: bool(b, "GBP", "Backend.GBP", false),
    learning: bool(b, "Learning", "Backend.Learning", false),
    directRouting: bool(b, "DirectRouting", "Backend.DirectRouting", false),
    listenPort: int(b, "ListenPort", "Backend.ListenPort", 51820, 1, 65535),
    listenPortV6: int(
      b,
      "ListenPortV6",
      "Backend.ListenPortV6",
      51821,
      1,
      65535,
    ),
    persistentKeepaliveInterval: int(
      b,
      "PersistentKeepaliveInterval",
      "Backend.PersistentKeepaliveInterval",
      0,
      0,
      65535,
    ),
    psk: str(b, "PSK", "Backend.PSK") ?? "",
    mode: mode as BackendConf["mode"],
  };
}

/** Parses and validates net-conf.json text; errors name the key. */
export function parseNetConf(text: string): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new NetConfError(
      "(file)",
      `not valid JSON: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new NetConfError("(file)", "must be a JSON object");
  }
  const o = raw as Obj;
  const enableIPv4 = bool(o, "EnableIPv4", "EnableIPv4", true);
  const enableIPv6 = bool(o, "EnableIPv6", "EnableIPv6", false);
  let network = cidr(o, "Network", 4);
  let ipv6Network = cidr(o, "IPv6Network", 6);
  if (network && network.prefix === 0) network = enableIPv4 ? network : null;
  if (ipv6Network && ipv6Network.prefix === 0) {
    ipv6Network = enableIPv6 ? ipv6Network : null;
  }
  if (!enableIPv4 && !enableIPv6) {
    throw new NetConfError(
      "EnableIPv4",
      "at least one of EnableIPv4 and EnableIPv6 must be true",
    );
  }
  if (enableIPv4 && (!network || network.prefix === 0)) {
    throw new NetConfError(
      "Network",
      "is required (an IPv4 CIDR such as 10.42.0.0/16) when EnableIPv4 is true",
    );
  }
  if (enableIPv6 && (!ipv6Network || ipv6Network.prefix === 0)) {
    throw new NetConfError(
      "IPv6Network",
      "is required (an IPv6 CIDR) when EnableIPv6 is true",
    );
  }
  const defLen = network
    ? (network.prefix <= 22 ? 24 : network.prefix + 2)
    : 24;
  const subnetLen = int(o, "SubnetLen", "SubnetLen", defLen, 0, 32);
  if (network && enableIPv4 && (subnetLen < network.prefix || subnetLen > 30)) {
    throw new NetConfError(
      "SubnetLen",
      `must be between the Network prefix /${network.prefix} and /30, got ${subnetLen}`,
    );
  }
  const ipv6SubnetLen = int(o, "IPv6SubnetLen", "IPv6SubnetLen", 64, 0, 128);
  if (
    ipv6Network && enableIPv6 &&
    (ipv6SubnetLen < ipv6Network.prefix || ipv6SubnetLen > 126)
  ) {
    throw new NetConfError(
      "IPv6SubnetLen",
      `must be between the IPv6Network prefix /${ipv6Network.prefix} and /126, got ${ipv6SubnetLen}`,
    );
  }
  const subnetMin = subnetBound(o, "SubnetMin", network, subnetLen);
  const subnetMax = subnetBound(o, "SubnetMax", network, subnetLen);
  return {
    network: enableIPv4 ? network : null,
    ipv6Network: enableIPv6 ? ipv6Network : null,
    enableIPv4,
    enableIPv6,
    enableNFTables: bool(o, "EnableNFTables", "EnableNFTables", false),
    subnetLen,
    subnetMin,
    subnetMax,
    ipv6SubnetLen,
    backend: parseBackend(field(o, "Backend")),
  };
}

function subnetBound(
  o: Obj,
  key: string,
  network: CIDR | null,
  len: number,
): CIDR | null {
  const text = str(o, key, key);
  if (text === undefined || text === "") return null;
  const c = CIDR.tryParse(text.includes("/") ? text : `${text}/${len}`);
  if (!c || c.family !== 4 || (network && !network.contains(c.ip))) {
    throw new NetConfError(
      key,
      `must be an IPv4 subnet inside ${network ?? "Network"}, got ${
        show(text)
      }`,
    );
  }
  return CIDR.of(c.ip, len).network();
}

/** What K3s's flags decide about the generated net-conf.json. */
export interface NetConfInput {
  /** --flannel-backend: vxlan (default), host-gw, wireguard-native, none. */
  backend?: string;
  /** --cluster-cidr (one or two, v4 and/or v6); default 10.42.0.0/16. */
  clusterCIDRs?: string[];
}

/** The net-conf.json text K3s writes for a backend and cluster CIDRs. */
export function generateNetConf(input: NetConfInput = {}): string {
  const cidrs = (input.clusterCIDRs ?? ["10.42.0.0/16"]).map((t) => {
    const c = CIDR.tryParse(t);
    if (!c) throw new TypeError(`invalid --cluster-cidr "${t}"`);
    return c.network();
  });
  const v4 = cidrs.filter((c) => c.family === 4);
  const v6 = cidrs.filter((c) => c.family === 6);
  if (v4.length > 1 || v6.length > 1 || cidrs.length === 0) {
    throw new TypeError(
      `--cluster-cidr takes one IPv4 and/or one IPv6 CIDR, got "${
        cidrs.join(",")
      }"`,
    );
  }
  const backend = (input.backend ?? "vxlan").toLowerCase();
  const row = BACKEND_NAMES.find((b) => b.flag === backend);
  if (!row) {
    throw new TypeError(
      `invalid --flannel-backend "${input.backend}"; use ${
        orList(BACKEND_FLAGS)
      }`,
    );
  }
  return JSON.stringify(
    {
      Network: v4[0]?.toString() ?? "0.0.0.0/0",
      EnableIPv6: v6.length > 0,
      EnableIPv4: v4.length > 0,
      IPv6Network: v6[0]?.toString() ?? "::/0",
      Backend: row.netConf,
    },
    null,
    2,
  ) + "\n";
}

/** `<data-dir>/agent/etc/flannel/net-conf.json`. */
export function netConfPath(dataDir: string): string {
  return `${dataDir}/agent/etc/flannel/net-conf.json`;
}

/**
 * The net-conf.json in effect: `flannelConf` (--flannel-conf) when given,
 * read as is; otherwise generated and written under the data dir.
 */
export async function loadNetConf(
  opts: NetConfInput & { dataDir: string; flannelConf?: string },
): Promise<{ path: string; conf: NetConf }> {
  if (opts.flannelConf) {
    let text: string;
    try {
      text = await Deno.readTextFile(opts.flannelConf);
    } catch (e) {
      throw new NetConfError(
        "(file)",
        `cannot read --flannel-conf ${opts.flannelConf}: ${
          (e as Error).message
        }`,
        { cause: e },
      );
    }
    return { path: opts.flannelConf, conf: parseNetConf(text) };
  }
  const path = netConfPath(opts.dataDir);
  const text = generateNetConf(opts);
  await writeFileAtomic(path, text, { mode: 0o600 });
  return { path, conf: parseNetConf(text) };
}
