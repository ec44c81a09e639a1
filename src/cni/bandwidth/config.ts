// bandwidth configuration: rates (bit/s) and bursts (bits), top-level keys
// overridden by runtimeConfig.bandwidth.

import { CniError, ErrorCode, type NetConf } from "../plugin.ts";
import { invalidConfig } from "../conf.ts";

/** The ifb device's name prefix: "bwp" + a hash of network and container. */
export const IFB_PREFIX = "bwp";

export interface Limits {
  ingressRate: number;
  ingressBurst: number;
  egressRate: number;
  egressBurst: number;
}

const KEYS = [
  "ingressRate",
  "ingressBurst",
  "egressRate",
  "egressBurst",
] as const;

function num(src: Record<string, unknown>, key: string): number {
  const v = src[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw invalidConfig(
      `"${key}" must be a non-negative integer, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function pair(rate: number, burst: number, dir: string): void {
  if (rate === 0 && burst !== 0) {
    throw invalidConfig(`if ${dir} burst is set, ${dir} rate must also be set`);
  }
  if (burst === 0 && rate !== 0) {
    throw invalidConfig(`if ${dir} rate is set, ${dir} burst must also be set`);
  }
  if (burst / 8 >= 2 ** 32) {
    throw invalidConfig(`${dir} burst cannot be more than 4GB`);
  }
}

/** The limits in effect; all zero when neither config nor runtime sets any. */
export function parseLimits(net: NetConf): Limits {
  for (const key of ["shapedSubnets", "unshapedSubnets"]) {
    const v =
      (net.runtimeConfig?.bandwidth as Record<string, unknown> | undefined)
        ?.[key] ?? net[key];
    if (Array.isArray(v) && v.length) {
      throw new CniError(
        ErrorCode.UnsupportedField,
        `"${key}" is not supported by weft's bandwidth plugin`,
      );
    }
  }
  const rc = net.runtimeConfig?.bandwidth;
  const src: Record<string, unknown> = rc && typeof rc === "object"
    ? rc as Record<string, unknown>
    : net;
  const l = Object.fromEntries(
    KEYS.map((k) => [k, num(src, k)]),
  ) as unknown as Limits;
  pair(l.ingressRate, l.ingressBurst, "ingress");
  pair(l.egressRate, l.egressBurst, "egress");
  return l;
}

export const hasLimits = (l: Limits) => l.ingressRate > 0 || l.egressRate > 0;
