// portmap configuration: plugin keys, runtimeConfig.portMappings and the
// container addresses taken from prevResult.

import { CIDR, IP } from "../../net/mod.ts";
import type { NetConf } from "../plugin.ts";
import { backendKey, invalidConfig } from "../conf.ts";

export type Protocol = "tcp" | "udp" | "sctp";

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
  hostIP?: string;
}

export interface PortmapConf {
  net: NetConf;
  snat: boolean;
  markMasqBit: number;
  externalSetMarkChain?: string;
  conditionsV4: string[];
  conditionsV6: string[];
  masqAll: boolean;
  backend?: "iptables" | "nftables";
  mappings: PortMapping[];
  /** First container address of each family (address with prefix). */
  containerV4?: CIDR;
  containerV6?: CIDR;
}

function port(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw invalidConfig(`Invalid ${what} port number: ${JSON.stringify(v)}`);
  }
  return v;
}

function strings(net: NetConf, key: string): string[] {
  const v = net[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
    throw invalidConfig(`"${key}" must be a list of strings`);
  }
  return v as string[];
}

export function parseMappings(net: NetConf): PortMapping[] {
  const raw = net.runtimeConfig?.portMappings;
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalidConfig(`"portMappings" must be a list`);
  return raw.map((m: Record<string, unknown>) => {
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      throw invalidConfig(`Invalid port mapping ${JSON.stringify(m)}`);
    }
    const protocol = String(m.protocol ?? "tcp").toLowerCase();
    if (protocol !== "tcp" && protocol !== "udp" && protocol !== "sctp") {
      throw invalidConfig(`Invalid protocol ${JSON.stringify(m.protocol)}`);
    }
    const out: PortMapping = {
      hostPort: port(m.hostPort, "host"),
      containerPort: port(m.containerPort, "container"),
      protocol,
    };
    if (m.hostIP !== undefined && m.hostIP !== "") {
      if (typeof m.hostIP !== "string" || !IP.tryParse(m.hostIP)) {
        throw invalidConfig(`Invalid hostIP ${JSON.stringify(m.hostIP)}`);
      }
      out.hostIP = m.hostIP;
    }
    return out;
  });
}

export function parsePortmapConf(net: NetConf, ifname: string): PortmapConf {
  const snat = net.snat ?? true;
  if (typeof snat !== "boolean") {
    throw invalidConfig(`"snat" must be true or false`);
  }
  const bit = net.markMasqBit ?? 13;
  if (
    typeof bit !== "number" || !Number.isInteger(bit) || bit < 0 || bit > 31
  ) {
    throw invalidConfig(`MasqMarkBit must be between 0 and 31`);
  }
  const ext = net.externalSetMarkChain;
  if (ext !== undefined && ext !== null && typeof ext !== "string") {
    throw invalidConfig(`"externalSetMarkChain" must be a string`);
  }
  if (ext && net.markMasqBit !== undefined) {
    throw invalidConfig("Cannot specify externalSetMarkChain and markMasqBit");
  }
  const backend = backendKey(net, "backend");
  const conf: PortmapConf = {
    net,
    snat,
    markMasqBit: bit,
    externalSetMarkChain: ext ?? undefined,
    conditionsV4: strings(net, "conditionsV4"),
    conditionsV6: strings(net, "conditionsV6"),
    masqAll: net.masqAll === true,
    backend,
    mappings: parseMappings(net),
  };
  const prev = net.prevResult;
  for (const ip of prev?.ips ?? []) {
    const iface = ip.interface === undefined
      ? undefined
      : prev?.interfaces?.[ip.interface];
    if (!iface?.sandbox || iface.name !== ifname) continue;
    const c = CIDR.parse(ip.address);
    if (c.ip.family === 4) conf.containerV4 ??= c;
    else conf.containerV6 ??= c;
  }
  return conf;
}
