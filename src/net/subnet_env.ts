// /run/flannel/subnet.env, the one parser: KEY=VALUE lines split on the
// first "=", blank lines and # comments skipped, networks comma-separated,
// CIDRs as written (callers reduce them as they need). flannel reads its own
// file strictly (a line without "=" or a FLANNEL_IPMASQ other than
// true/false is an error); the CNI plugin reads it as flannel's Go plugin
// does (such lines skipped, FLANNEL_IPMASQ true only for "true"). Unknown
// keys (written by a newer flannel) are ignored.

import { CIDR } from "./ip.ts";

export interface SubnetEnvLine {
  /** 1-based. */
  number: number;
  /** The line, trimmed. */
  text: string;
  key: string;
  value: string;
}

export interface SubnetEnvFields {
  networks: CIDR[];
  subnet: CIDR | null;
  ipv6Networks: CIDR[];
  ipv6Subnet: CIDR | null;
  /** null when the file has no FLANNEL_MTU. */
  mtu: number | null;
  /** null when the file has no FLANNEL_IPMASQ. */
  ipMasq: boolean | null;
  /** The line each known key was last read from. */
  lines: Map<string, SubnetEnvLine>;
}

/** A line that cannot be read; `item` is the offending value (one element
 * of a list), `line.value` the whole value. */
export class SubnetEnvError extends Error {
  override name = "SubnetEnvError";
  constructor(
    readonly line: SubnetEnvLine,
    readonly item: string,
    readonly problem: "no-equals" | "bad-value",
  ) {
    super(
      problem === "no-equals"
        ? `subnet.env line ${line.number}: no "=" in "${line.text}"`
        : `subnet.env line ${line.number}: bad value in "${line.text}"`,
    );
  }
}

export function parseSubnetEnvText(
  text: string,
  opts: { strict?: boolean } = {},
): SubnetEnvFields {
  const env: SubnetEnvFields = {
    networks: [],
    subnet: null,
    ipv6Networks: [],
    ipv6Subnet: null,
    mtu: null,
    ipMasq: null,
    lines: new Map(),
  };
  for (const [index, raw] of text.split("\n").entries()) {
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const eq = trimmed.indexOf("=");
    const line: SubnetEnvLine = {
      number: index + 1,
      text: trimmed,
      key: eq < 0 ? "" : trimmed.slice(0, eq),
      value: eq < 0 ? "" : trimmed.slice(eq + 1),
    };
    if (eq < 0) {
      if (opts.strict) throw new SubnetEnvError(line, "", "no-equals");
      continue;
    }
    const cidr = (item: string) => {
      const parsed = CIDR.tryParse(item.trim());
      if (!parsed) throw new SubnetEnvError(line, item, "bad-value");
      return parsed;
    };
    const list = () =>
      line.value.split(",").filter((s) => s.trim()).map((s) => cidr(s));
    switch (line.key) {
      case "FLANNEL_NETWORK":
        env.networks = list();
        break;
      case "FLANNEL_SUBNET":
        env.subnet = cidr(line.value);
        break;
      case "FLANNEL_IPV6_NETWORK":
        env.ipv6Networks = list();
        break;
      case "FLANNEL_IPV6_SUBNET":
        env.ipv6Subnet = cidr(line.value);
        break;
      case "FLANNEL_MTU":
        if (!/^\d+$/.test(line.value)) {
          throw new SubnetEnvError(line, line.value, "bad-value");
        }
        env.mtu = Number(line.value);
        break;
      case "FLANNEL_IPMASQ":
        if (opts.strict && line.value !== "true" && line.value !== "false") {
          throw new SubnetEnvError(line, line.value, "bad-value");
        }
        env.ipMasq = line.value === "true";
        break;
      default:
        continue;
    }
    env.lines.set(line.key, line);
  }
  return env;
}
