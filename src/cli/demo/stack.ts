// The demo's address families: IPv4 (the default), single-stack IPv6
// (`--ipv6`: no IPv4 address on the nodes' uplinks, as K3s documents an
// IPv6-only cluster) and dual-stack with IPv4 (`--dual-stack`) or IPv6
// (`--dual-stack --ipv6`) as the primary family. One plan says which
// addresses the underlay and the nodes get and what the server is told.

export type Family = 4 | 6;
export type Stack = "ipv4" | "ipv6" | "dual" | "dual6";

export const STACKS: readonly Stack[] = ["ipv4", "ipv6", "dual", "dual6"];

const V4 = {
  net: "10.250.0",
  gateway: "10.250.0.1",
  prefix: 24,
  cluster: "10.42.0.0/16",
  service: "10.43.0.0/16",
};
const V6 = {
  net: "fd77::",
  gateway: "fd77::fe",
  prefix: 64,
  cluster: "fd42::/56",
  service: "fd43::/112",
};

export class StackPlan {
  /** The families, primary first. */
  readonly families: Family[];

  constructor(readonly stack: Stack = "ipv4") {
    this.families = {
      ipv4: [4],
      ipv6: [6],
      dual: [4, 6],
      dual6: [6, 4],
    }[stack] as Family[];
  }

  get primary(): Family {
    return this.families[0];
  }

  /** Single-stack IPv4: the demo as it always was (agents get --node-ip). */
  get isDefault(): boolean {
    return this.stack === "ipv4";
  }

  has(f: Family): boolean {
    return this.families.includes(f);
  }

  /** The underlay bridge's addresses (CIDR form), primary first. */
  gatewayCidrs(): string[] {
    return this.families.map((f) =>
      f === 4 ? `${V4.gateway}/${V4.prefix}` : `${V6.gateway}/${V6.prefix}`
    );
  }

  gateway(f: Family): string {
    return f === 4 ? V4.gateway : V6.gateway;
  }

  /** Node `i`'s underlay address of family `f` (node1: 10.250.0.11, fd77::1). */
  nodeIP(i: number, f: Family): string {
    return f === 4 ? `${V4.net}.${10 + i}` : `${V6.net}${i.toString(16)}`;
  }

  /** Node `i`'s addresses, primary first. */
  nodeIPs(i: number): string[] {
    return this.families.map((f) => this.nodeIP(i, f));
  }

  prefix(f: Family): number {
    return f === 4 ? V4.prefix : V6.prefix;
  }

  /** The server flags this stack needs beyond the defaults (none for IPv4). */
  serverArgs(): string[] {
    if (this.isDefault) return [];
    const of = (k: "cluster" | "service") =>
      this.families.map((f) => (f === 4 ? V4 : V6)[k]).join(",");
    return [
      "--cluster-cidr",
      of("cluster"),
      "--service-cidr",
      of("service"),
      // flannel masquerades IPv6 pod traffic only when asked (as K3s).
      "--flannel-ipv6-masq",
    ];
  }

  /** A label for progress lines: "IPv6", "dual-stack (IPv6 primary)". */
  label(): string {
    return {
      ipv4: "IPv4",
      ipv6: "IPv6 only",
      dual: "dual-stack (IPv4 primary)",
      dual6: "dual-stack (IPv6 primary)",
    }[this.stack];
  }
}

/** The family of an address. */
export function familyOf(ip: string): Family {
  return ip.includes(":") ? 6 : 4;
}
