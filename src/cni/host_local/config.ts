// host-local's configuration: the `ipam` section of the network config plus
// the requested IPs from CNI_ARGS, args.cni.ips and runtimeConfig.ips.

import { IP } from "../../net/mod.ts";
import {
  CniError,
  ErrorCode,
  type PluginContext,
  type Route,
} from "../plugin.ts";
import { invalidConfig } from "../conf.ts";
import { parseRange, type RangeSet, validateRangeSets } from "./range.ts";

export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";

export interface HostLocalConfig {
  /** The network name: the directory under dataDir. */
  name: string;
  dataDir: string;
  rangeSets: RangeSet[];
  routes: Route[];
  resolvConf?: string;
  requestedIPs: IP[];
}

/** Reads and validates the host-local config of a plugin call. */
export function loadConfig(ctx: PluginContext): HostLocalConfig {
  const ipam = ctx.config.ipam as Record<string, unknown> | undefined;
  if (!ipam || typeof ipam !== "object") {
    throw invalidConfig("IPAM config missing 'ipam' key");
  }
  const sets: RangeSet[] = [];
  if (ipam.subnet !== undefined) {
    sets.push([parseRange({
      subnet: ipam.subnet,
      rangeStart: ipam.rangeStart,
      rangeEnd: ipam.rangeEnd,
      gateway: ipam.gateway,
    })]);
  }
  if (ipam.ranges !== undefined) {
    if (!Array.isArray(ipam.ranges)) {
      throw invalidConfig("ipam.ranges is not a list");
    }
    for (const set of ipam.ranges) {
      if (!Array.isArray(set)) {
        throw invalidConfig(
          "each entry of ipam.ranges must be a list of ranges",
        );
      }
      sets.push(set.map(parseRange));
    }
  }
  if (sets.length === 0) throw invalidConfig("no IP ranges specified");
  validateRangeSets(sets);
  // As the reference: absent, null or empty means the default.
  const raw = ipam.dataDir ?? "";
  const dataDir = raw === "" ? DEFAULT_DATA_DIR : raw;
  if (typeof dataDir !== "string") {
    throw invalidConfig(`invalid ipam.dataDir ${JSON.stringify(dataDir)}`);
  }
  if (ipam.resolvConf !== undefined && typeof ipam.resolvConf !== "string") {
    throw invalidConfig("ipam.resolvConf must be a path");
  }
  return {
    name: ctx.config.name,
    dataDir,
    rangeSets: sets,
    routes: parseRoutes(ipam.routes),
    resolvConf: ipam.resolvConf as string | undefined || undefined,
    requestedIPs: requestedIPs(ctx),
  };
}

function parseRoutes(raw: unknown): Route[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalidConfig("ipam.routes is not a list");
  return raw.map((r) => {
    if (typeof r?.dst !== "string" || !r.dst.includes("/")) {
      throw invalidConfig(
        `invalid route ${JSON.stringify(r)}: dst must be a CIDR`,
      );
    }
    const out: Route = { dst: r.dst };
    if (r.gw !== undefined) {
      if (typeof r.gw !== "string" || !IP.tryParse(r.gw)) {
        throw invalidConfig(`invalid route gateway ${JSON.stringify(r.gw)}`);
      }
      out.gw = r.gw;
    }
    return out;
  });
}

function parseRequested(v: unknown, source: string): IP {
  const text = typeof v === "string" ? v.split("/")[0] : "";
  const ip = IP.tryParse(text);
  if (!ip) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `invalid requested IP ${JSON.stringify(v)} in ${source}`,
    );
  }
  return ip;
}

/** CNI_ARGS IP=a,b, then args.cni.ips, then runtimeConfig.ips. */
function requestedIPs(ctx: PluginContext): IP[] {
  const out: IP[] = [];
  const fromArgs = ctx.args.IP;
  if (fromArgs) {
    for (const s of fromArgs.split(",")) {
      if (s.trim()) out.push(parseRequested(s.trim(), "CNI_ARGS IP"));
    }
  }
  const cni = (ctx.config.args as Record<string, unknown> | undefined)?.cni as
    | Record<string, unknown>
    | undefined;
  if (Array.isArray(cni?.ips)) {
    for (const s of cni.ips) out.push(parseRequested(s, "args.cni.ips"));
  }
  const rc = ctx.config.runtimeConfig?.ips;
  if (Array.isArray(rc)) {
    for (const s of rc) out.push(parseRequested(s, "runtimeConfig.ips"));
  }
  return out;
}
