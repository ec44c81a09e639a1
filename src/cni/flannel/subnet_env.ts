// /run/flannel/subnet.env as the flannel CNI plugin reads it (the parser is
// net/subnet_env.ts): subnets reduced to their network address, the keys
// the plugin needs required, errors as CNI errors.

import {
  type CIDR,
  parseSubnetEnvText,
  SubnetEnvError,
  type SubnetEnvFields,
} from "../../net/mod.ts";
import { CniError, ErrorCode } from "../plugin.ts";

export const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";

export interface SubnetEnv {
  networks: CIDR[];
  subnet: CIDR | null;
  ip6Networks: CIDR[];
  ip6Subnet: CIDR | null;
  mtu: number;
  ipMasq: boolean;
}

function loadError(path: string, msg: string, cause?: unknown): CniError {
  return new CniError(
    ErrorCode.Internal,
    `failed to load flannel 'subnet.env' file: ${path} ${msg}. ` +
      "Check the flannel log for this node.",
    undefined,
    { cause },
  );
}

/** Parses subnet.env text (net/subnet_env.ts, read as flannel's Go plugin
 * does); `path` is only for messages. */
export function parseSubnetEnv(text: string, path: string): SubnetEnv {
  let fields: SubnetEnvFields;
  try {
    fields = parseSubnetEnvText(text);
  } catch (e) {
    if (!(e instanceof SubnetEnvError)) throw e;
    throw loadError(path, `has an invalid ${e.line.key} "${e.item}"`);
  }
  if (fields.mtu !== null && fields.mtu <= 0) {
    throw loadError(path, `has an invalid FLANNEL_MTU "${fields.mtu}"`);
  }
  const env: SubnetEnv = {
    networks: fields.networks.map((c) => c.network()),
    subnet: fields.subnet?.network() ?? null,
    ip6Networks: fields.ipv6Networks.map((c) => c.network()),
    ip6Subnet: fields.ipv6Subnet?.network() ?? null,
    mtu: fields.mtu ?? 0,
    ipMasq: fields.ipMasq ?? false,
  };
  const missing: string[] = [];
  if (!env.networks.length && !env.ip6Networks.length) {
    missing.push("FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK");
  }
  if (!env.subnet && !env.ip6Subnet) {
    missing.push("FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET");
  }
  if (fields.mtu === null) missing.push("FLANNEL_MTU");
  if (fields.ipMasq === null) missing.push("FLANNEL_IPMASQ");
  if (missing.length) throw loadError(path, `is missing ${missing.join(", ")}`);
  return env;
}

export function loadSubnetEnv(path: string): SubnetEnv {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw loadError(path, `cannot be read (${(err as Error).message})`, err);
  }
  return parseSubnetEnv(text, path);
}
