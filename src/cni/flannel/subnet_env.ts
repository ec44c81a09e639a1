// /run/flannel/subnet.env as the flannel CNI plugin reads it: KEY=VALUE
// lines split on the first "=", networks comma-separated, subnets reduced to
// their network address, FLANNEL_IPMASQ true only for "true".

import { CIDR } from "../../net/mod.ts";
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

function cidr(path: string, key: string, text: string): CIDR {
  const c = CIDR.tryParse(text.trim());
  if (!c) throw loadError(path, `has an invalid ${key} "${text}"`);
  return c.network();
}

/** Parses subnet.env text; `path` is only for messages. */
export function parseSubnetEnv(text: string, path: string): SubnetEnv {
  const env: SubnetEnv = {
    networks: [],
    subnet: null,
    ip6Networks: [],
    ip6Subnet: null,
    mtu: 0,
    ipMasq: false,
  };
  let mtuSeen = false, masqSeen = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const eq = line.indexOf("=");
    if (line === "" || line.startsWith("#") || eq < 0) continue;
    const key = line.slice(0, eq), value = line.slice(eq + 1);
    const list = () =>
      value.split(",").filter((s) => s.trim()).map((s) => cidr(path, key, s));
    switch (key) {
      case "FLANNEL_NETWORK":
        env.networks = list();
        break;
      case "FLANNEL_SUBNET":
        env.subnet = cidr(path, key, value);
        break;
      case "FLANNEL_IPV6_NETWORK":
        env.ip6Networks = list();
        break;
      case "FLANNEL_IPV6_SUBNET":
        env.ip6Subnet = cidr(path, key, value);
        break;
      case "FLANNEL_MTU": {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n <= 0) {
          throw loadError(path, `has an invalid FLANNEL_MTU "${value}"`);
        }
        env.mtu = n;
        mtuSeen = true;
        break;
      }
      case "FLANNEL_IPMASQ":
        env.ipMasq = value === "true";
        masqSeen = true;
        break;
    }
  }
  const missing: string[] = [];
  if (!env.networks.length && !env.ip6Networks.length) {
    missing.push("FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK");
  }
  if (!env.subnet && !env.ip6Subnet) {
    missing.push("FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET");
  }
  if (!mtuSeen) missing.push("FLANNEL_MTU");
  if (!masqSeen) missing.push("FLANNEL_IPMASQ");
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
