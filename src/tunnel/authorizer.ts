// The agent's dial authorizer, by mode (as K3s): TCP to loopback on the node
// endpoint port (or 10010) always; pod mode adds this node's IPs and pod
// CIDRs; cluster mode adds the node's IPs and every cluster CIDR. Everything
// else is refused (the stream gets an error frame).

import { CIDR, IP } from "../net/mod.ts";
import type { EgressMode, HostPort } from "./target.ts";

export interface AuthorizerOptions {
  mode: EgressMode;
  nodeEndpointPort: number;
  nodeIPs: string[];
  podCIDRs: string[];
  clusterCIDRs: string[];
}

function cidrs(list: string[], what: string): CIDR[] {
  return list.map((c) => {
    const p = CIDR.tryParse(c);
    if (!p) throw new TypeError(`bad ${what} ${JSON.stringify(c)}`);
    return p;
  });
}

/** Returns a function giving null when allowed, else the refusal reason. */
export function createAuthorizer(
  o: AuthorizerOptions,
): (to: HostPort) => string | null {
  const nodeIPs = new Set(o.nodeIPs.map((a) => {
    const ip = IP.tryParse(a);
    if (!ip) throw new TypeError(`bad node IP ${JSON.stringify(a)}`);
    return ip.toString();
  }));
  const pods = cidrs(o.podCIDRs, "pod CIDR");
  const cluster = cidrs(o.clusterCIDRs, "cluster CIDR");
  const extra = o.mode === "cluster" ? cluster : o.mode === "pod" ? pods : [];
  const ports = [o.nodeEndpointPort, 10010];
  return (to) => {
    const denied =
      `denied by the ${o.mode} mode authorizer: ${to.host}:${to.port}`;
    const host = to.host === "localhost" ? "127.0.0.1" : to.host;
    const ip = IP.tryParse(host);
    if (!ip) return `${denied} (not an IP address)`;
    const text = ip.toString();
    if (text === "127.0.0.1" || text === "::1") {
      return ports.includes(to.port) ? null : denied;
    }
    if (o.mode !== "pod" && o.mode !== "cluster") return denied;
    if (nodeIPs.has(text)) return null;
    return extra.some((c) => c.contains(ip)) ? null : denied;
  };
}
