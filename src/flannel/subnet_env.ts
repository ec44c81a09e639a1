// /run/flannel/subnet.env: what the flannel CNI plugin reads.

import { CIDR } from "../net/mod.ts";
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

/** Parses subnet.env; throws FlannelError naming a bad line. */
export function parseSubnetEnv(text: string): SubnetEnv {
  const env: SubnetEnv = {
    network: null,
    subnet: null,
    ipv6Network: null,
    ipv6Subnet: null,
    mtu: 0,
    ipMasq: false,
  };
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = line.slice(0, eq);
    const val = line.slice(eq + 1);
    const bad = () =>
      new FlannelError(`subnet.env line ${i + 1}: bad value in "${line}"`);
    const net = () => {
      const c = CIDR.tryParse(val);
      if (!c) throw bad();
      return c;
    };
    switch (eq < 0 ? "" : key) {
      case "FLANNEL_NETWORK":
        env.network = net();
        break;
      case "FLANNEL_SUBNET":
        env.subnet = net();
        break;
      case "FLANNEL_IPV6_NETWORK":
        env.ipv6Network = net();
        break;
      case "FLANNEL_IPV6_SUBNET":
        env.ipv6Subnet = net();
        break;
      case "FLANNEL_MTU":
        if (!/^\d+$/.test(val)) throw bad();
        env.mtu = Number(val);
        break;
      case "FLANNEL_IPMASQ":
        if (val !== "true" && val !== "false") throw bad();
        env.ipMasq = val === "true";
        break;
      case "":
        throw new FlannelError(`subnet.env line ${i + 1}: no "=" in "${line}"`);
      default:
        // Unknown keys (written by a newer flannel) are kept out of the model.
        break;
    }
  }
  return env;
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
