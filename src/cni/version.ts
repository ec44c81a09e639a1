// CNI spec versions and result conversion between their shapes:
// 0.1.0/0.2.0 `{ip4, ip6, dns}`, 0.3.x/0.4.0 `ips[].version`, 1.x without it.

import { CIDR, IP } from "../net/mod.ts";
import {
  CniError,
  CURRENT_VERSION,
  type DNS,
  ErrorCode,
  type Interface,
  type IPConfig,
  type Result,
  type Route,
  SUPPORTED_VERSIONS,
} from "./plugin.ts";

/** Compares two "x.y.z" versions; throws CniError for a malformed one. */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a), pb = parseVersion(b);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

function parseVersion(v: string): number[] {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      `invalid version "${v}": the version is empty or not of the form x.y.z`,
    );
  }
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export function isSupported(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Throws code 1 unless `v` is one weft speaks. */
export function requireSupported(v: string): void {
  if (!isSupported(v)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      "incompatible CNI versions",
      `config is "${v}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
    );
  }
}

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bad(msg: string): CniError {
  return new CniError(ErrorCode.DecodingFailure, msg);
}

/** As the reference decodes a result: addresses are CIDRs, gateways IPs. */
function cidrField(v: string, what: string): string {
  if (!CIDR.tryParse(v)) {
    throw bad(`invalid CIDR ${JSON.stringify(v)} in ${what}`);
  }
  return v;
}

function ipField(v: string, what: string): string {
  if (!IP.tryParse(v)) throw bad(`invalid IP ${JSON.stringify(v)} in ${what}`);
  return v;
}

/**
 * Reads a result of any version (told by its shape, so an already upgraded
 * result passes unchanged) into the 1.1.0 shape.
 */
export function upgradeResult(raw: unknown): Result {
  if (!isObj(raw)) throw bad("result is not a JSON object");
  const out: Result = { cniVersion: CURRENT_VERSION };
  if ("ip4" in raw || "ip6" in raw) {
    const ips: IPConfig[] = [];
    const routes: Route[] = [];
    for (const key of ["ip4", "ip6"]) {
      const v = raw[key];
      if (v === undefined || v === null) continue;
      if (!isObj(v) || typeof v.ip !== "string") {
        throw bad(`result ${key} has no "ip"`);
      }
      const ip: IPConfig = { address: cidrField(v.ip, `result ${key}.ip`) };
      if (typeof v.gateway === "string" && v.gateway) {
        ip.gateway = ipField(v.gateway, `result ${key}.gateway`);
      }
      ips.push(ip);
      if (Array.isArray(v.routes)) routes.push(...v.routes.map(readRoute));
    }
    out.ips = ips;
    if (routes.length) out.routes = routes;
  } else {
    if (raw.interfaces !== undefined) {
      if (!Array.isArray(raw.interfaces)) throw bad("interfaces not a list");
      out.interfaces = raw.interfaces.map(readInterface);
    }
    if (raw.ips !== undefined) {
      if (!Array.isArray(raw.ips)) throw bad("ips is not a list");
      out.ips = raw.ips.map(readIP);
    }
    if (raw.routes !== undefined) {
      if (!Array.isArray(raw.routes)) throw bad("routes is not a list");
      out.routes = raw.routes.map(readRoute);
    }
  }
  if (isObj(raw.dns)) {
    const dns = readDNS(raw.dns);
    if (Object.keys(dns).length) out.dns = dns;
  }
  return out;
}

function readInterface(v: unknown): Interface {
  if (!isObj(v) || typeof v.name !== "string") {
    throw bad("result interface without a name");
  }
  const i: Interface = { name: v.name };
  if (typeof v.mac === "string" && v.mac) i.mac = v.mac;
  if (typeof v.mtu === "number" && v.mtu) i.mtu = v.mtu;
  if (typeof v.sandbox === "string" && v.sandbox) i.sandbox = v.sandbox;
  if (typeof v.socketPath === "string" && v.socketPath) {
    i.socketPath = v.socketPath;
  }
  if (typeof v.pciID === "string" && v.pciID) i.pciID = v.pciID;
  return i;
}

function readIP(v: unknown): IPConfig {
  if (!isObj(v) || typeof v.address !== "string") {
    throw bad("result ip without an address");
  }
  const ip: IPConfig = { address: cidrField(v.address, "result ips") };
  if (typeof v.gateway === "string" && v.gateway) {
    ip.gateway = ipField(v.gateway, "result ips");
  }
  if (typeof v.interface === "number") ip.interface = v.interface;
  return ip;
}

function readRoute(v: unknown): Route {
  if (!isObj(v) || typeof v.dst !== "string") {
    throw bad("result route without a dst");
  }
  const r: Route = { dst: cidrField(v.dst, "result routes") };
  if (typeof v.gw === "string" && v.gw) r.gw = ipField(v.gw, "result routes");
  for (const k of ["mtu", "advmss", "priority", "table", "scope"] as const) {
    if (typeof v[k] === "number") r[k] = v[k] as number;
  }
  return r;
}

function readDNS(v: Json): DNS {
  const d: DNS = {};
  const strs = (x: unknown) =>
    Array.isArray(x) && x.every((s) => typeof s === "string")
      ? x as string[]
      : undefined;
  const ns = strs(v.nameservers), search = strs(v.search);
  const options = strs(v.options);
  if (ns?.length) d.nameservers = ns;
  if (typeof v.domain === "string" && v.domain) d.domain = v.domain;
  if (search?.length) d.search = search;
  if (options?.length) d.options = options;
  return d;
}

function familyOf(cidrOrIp: string): 4 | 6 {
  const ip = IP.tryParse(cidrOrIp.split("/")[0]);
  if (!ip) throw bad(`invalid IP "${cidrOrIp}" in result`);
  return ip.family;
}

/** Converts a 1.1.0-shape result to the JSON object of `version`. */
export function resultFor(result: Result, version: string): Json {
  requireSupported(version);
  if (compareVersions(version, "0.3.0") < 0) {
    return legacyResult(result, version);
  }
  const out: Json = { cniVersion: version };
  const withVersion = compareVersions(version, "1.0.0") < 0;
  if (result.interfaces?.length) out.interfaces = result.interfaces;
  if (result.ips?.length) {
    out.ips = result.ips.map((ip) =>
      withVersion ? { version: String(familyOf(ip.address)), ...ip } : ip
    );
  }
  if (result.routes?.length) out.routes = result.routes;
  out.dns = result.dns ?? {};
  return out;
}

function legacyResult(result: Result, version: string): Json {
  const out: Json = { cniVersion: version };
  const byFamily: Record<4 | 6, Json | undefined> = {
    4: undefined,
    6: undefined,
  };
  for (const ip of result.ips ?? []) {
    const f = familyOf(ip.address);
    if (byFamily[f]) continue;
    const o: Json = { ip: ip.address };
    if (ip.gateway) o.gateway = ip.gateway;
    byFamily[f] = o;
  }
  if (!byFamily[4] && !byFamily[6]) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `cannot convert result to version ${version}: no valid IP addresses`,
    );
  }
  for (const r of result.routes ?? []) {
    const target = byFamily[familyOf(r.dst)];
    if (!target) continue;
    const routes = (target.routes ??= []) as Route[];
    const legacy: Route = { dst: r.dst };
    if (r.gw) legacy.gw = r.gw;
    routes.push(legacy);
  }
  if (byFamily[4]) out.ip4 = byFamily[4];
  if (byFamily[6]) out.ip6 = byFamily[6];
  out.dns = result.dns ?? {};
  return out;
}

/** Rejects a verb the config's version does not have (CHECK < 0.4.0, ...). */
export function requireVerb(command: string, version: string): void {
  const min: Record<string, string> = {
    CHECK: "0.4.0",
    GC: "1.1.0",
    STATUS: "1.1.0",
  };
  const need = min[command];
  if (need && compareVersions(version, need) < 0) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      `config version does not allow ${command}`,
      `config is "${version}", ${command} needs ${need} or later`,
    );
  }
}
