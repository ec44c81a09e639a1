// /run/flannel/subnet.env: what the flannel CNI plugin reads.

import {
  CIDR,
  parseSubnetEnvText,
  SubnetEnvError,
  type SubnetEnvFields,
} from "../net/mod.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { FlannelError } from "./errors.ts";

export interface SubnetEnv {
  network: CIDR | null;
  /** The node's subnet with the first host address: 10.42.1.1/24. */
  subnet: CIDR | null;
  ipv6Network: CIDR | null;
  ipv6Subnet: CIDR | null;
  mtu: number;
  ipMasq: boolean;
}

/** The subnet.env form of a lease subnet: 10.42.1.0/24 -> 10.42.1.1/24. */
export function gatewayForm(subnet: CIDR): CIDR {
  return CIDR.of(subnet.network().ip.add(1), subnet.prefix);
}

/** KEY=VALUE lines in flannel's order. */
export function formatSubnetEnv(env: SubnetEnv): string {
  const lines: string[] = [];
  if (env.network) lines.push(`FLANNEL_NETWORK=${env.network}`);
  if (env.subnet) lines.push(`FLANNEL_SUBNET=${env.subnet}`);
  if (env.ipv6Network) lines.push(`FLANNEL_IPV6_NETWORK=${env.ipv6Network}`);
  if (env.ipv6Subnet) lines.push(`FLANNEL_IPV6_SUBNET=${env.ipv6Subnet}`);
  lines.push(`FLANNEL_MTU=${env.mtu}`);
  lines.push(`FLANNEL_IPMASQ=${env.ipMasq}`);
  return lines.join("\n") + "\n";
}

/** Parses subnet.env (strictly: it is our own file); throws FlannelError
 * naming a bad line. */
export function parseSubnetEnv(text: string): SubnetEnv {
  let fields: SubnetEnvFields;
  try {
    fields = parseSubnetEnvText(text, { strict: true });
  } catch (e) {
    if (e instanceof SubnetEnvError) {
      throw new FlannelError(e.message, { cause: e });
    }
    throw e;
  }
  // flannel writes one network per family.
  const one = (key: string, networks: CIDR[]): CIDR | null => {
    const line = fields.lines.get(key);
    if (line && networks.length !== 1) {
      throw new FlannelError(
        new SubnetEnvError(line, line.value, "bad-value").message,
      );
    }
    return networks[0] ?? null;
  };
  return {
    network: one("FLANNEL_NETWORK", fields.networks),
    subnet: fields.subnet,
    ipv6Network: one("FLANNEL_IPV6_NETWORK", fields.ipv6Networks),
    ipv6Subnet: fields.ipv6Subnet,
    mtu: fields.mtu ?? 0,
    ipMasq: fields.ipMasq ?? false,
  };
}

/** Reads subnet.env; null when there is none or it cannot be parsed. */
export async function readSubnetEnv(
  path: string,
  log?: (msg: string) => void,
): Promise<SubnetEnv | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    return parseSubnetEnv(text);
  } catch (e) {
    log?.(`ignoring previous ${path}: ${(e as Error).message}`);
    return null;
  }
}

/** Writes subnet.env atomically (directory 0755, file 0644). */
export function writeSubnetEnv(path: string, env: SubnetEnv): Promise<void> {
  return writeFileAtomic(path, formatSubnetEnv(env), {
    mode: 0o644,
    dirMode: 0o755,
  });
}
