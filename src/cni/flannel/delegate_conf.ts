// The delegate network config flannel renders from its own config and
// subnet.env (bridge + host-local by default), as flannel's CNI plugin does.

import { CniError, ErrorCode, type NetConf, type Route } from "../plugin.ts";
import type { SubnetEnv } from "./subnet_env.ts";

export const DEFAULT_DATA_DIR = "/var/lib/cni/flannel";

export interface FlannelConf {
  subnetFile: string;
  dataDir: string;
  delegate: Record<string, unknown>;
  ipam: Record<string, unknown>;
}

function invalid(msg: string): CniError {
  return new CniError(ErrorCode.InvalidNetworkConfig, msg);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads flannel's keys from its network config. */
export function flannelConf(config: NetConf): FlannelConf {
  const str = (k: string, def: string) => {
    const v = config[k];
    if (v === undefined || v === "") return def;
    if (typeof v !== "string") throw invalid(`"${k}" must be a string`);
    return v;
  };
  const delegate = config.delegate ?? {};
  if (!isMap(delegate)) throw invalid(`"delegate" must be an object`);
  if ("name" in delegate) {
    throw invalid(`"delegate" must not contain "name": flannel sets it`);
  }
  if ("ipam" in delegate) {
    throw invalid(
      `"delegate" must not contain "ipam": put it at the top level of the flannel config`,
    );
  }
  const ipam = config.ipam ?? {};
  if (!isMap(ipam)) throw invalid(`"ipam" must be an object`);
  return {
    subnetFile: str("subnetFile", "/run/flannel/subnet.env"),
    dataDir: str("dataDir", DEFAULT_DATA_DIR),
    delegate,
    ipam,
  };
}

/** Renders the delegate's network config. */
export function buildDelegate(
  config: NetConf,
  fc: FlannelConf,
  env: SubnetEnv,
): NetConf {
  const d: Record<string, unknown> = structuredClone(fc.delegate);
  d.name = config.name;
  d.type ??= "bridge";
  if (typeof d.type !== "string" || d.type === "") {
    throw invalid(`delegate "type" must be a plugin name`);
  }
  d.ipMasq ??= !env.ipMasq;
  d.mtu ??= env.mtu;
  if (d.type === "bridge") d.isGateway ??= true;
  d.cniVersion = config.cniVersion;
  if (config.runtimeConfig) d.runtimeConfig = config.runtimeConfig;

  const ipam: Record<string, unknown> = structuredClone(fc.ipam);
  ipam.type ??= "host-local";
  const ranges: { subnet: string }[][] = [];
  if (env.subnet) ranges.push([{ subnet: env.subnet.toString() }]);
  if (env.ip6Subnet) ranges.push([{ subnet: env.ip6Subnet.toString() }]);
  ipam.ranges = ranges;
  const routes: Route[] = [];
  if (ipam.routes !== undefined) {
    if (!Array.isArray(ipam.routes)) throw invalid(`"ipam.routes" not a list`);
    routes.push(...ipam.routes as Route[]);
  }
  for (const n of [...env.networks, ...env.ip6Networks]) {
    routes.push({ dst: n.toString() });
  }
  ipam.routes = routes;
  d.ipam = ipam;
  return d as NetConf;
}
