// The server's choice for a CONNECT target, as K3s's dialBackend: through a
// node's tunnel (and to what address on the agent), or a direct dial.

import { CIDR, IP } from "../net/mod.ts";
import type { Node, Pod } from "../kube/mod.ts";
import {
  EGRESS_LABEL,
  type EgressMode,
  formatTarget,
  type HostPort,
} from "./target.ts";

export type Route =
  | { kind: "direct"; target: string }
  | { kind: "tunnel"; node: string; target: string };

export interface RouteOptions {
  mode: EgressMode;
  nodeEndpointPort: number;
  /** This server's own node: reached directly, never through a tunnel. */
  localNode?: string;
}

const ENDPOINT_PORTS = (p: number) => [p, 10010];

function nodeIPs(n: Node): string[] {
  return (n.status?.addresses ?? [])
    .filter((a) => a.type === "InternalIP" || a.type === "ExternalIP")
    .map((a) => IP.tryParse(a.address)?.toString())
    .filter((a): a is string => a !== undefined);
}

function podCidrs(n: Node): CIDR[] {
  const list = n.spec?.podCIDRs?.length
    ? n.spec.podCIDRs
    : (n.spec?.podCIDR ? [n.spec.podCIDR] : []);
  return list.map((c) => CIDR.tryParse(c)).filter((c): c is CIDR => !!c);
}

const labelled = (n: Node) => n.metadata?.labels?.[EGRESS_LABEL] === "true";

/** Where a CONNECT to `to` goes, given the cluster's nodes and pods. */
export function routeFor(
  to: HostPort,
  nodes: Node[],
  pods: Pod[],
  o: RouteOptions,
): Route {
  const direct: Route = {
    kind: "direct",
    target: formatTarget(to.host, to.port),
  };
  if (o.mode === "disabled") return direct;
  const via = (n: Node, target: string): Route =>
    n.metadata?.name === o.localNode
      ? { kind: "direct", target }
      : { kind: "tunnel", node: n.metadata!.name!, target };
  const loopback = formatTarget("127.0.0.1", to.port);
  const endpoint = ENDPOINT_PORTS(o.nodeEndpointPort).includes(to.port);

  const byName = nodes.find((n) => n.metadata?.name === to.host);
  if (byName) {
    const ip = nodeIPs(byName)[0];
    if (endpoint) return via(byName, loopback);
    return ip ? via(byName, formatTarget(ip, to.port)) : direct;
  }
  const ip = IP.tryParse(to.host);
  if (!ip) return direct;
  const text = ip.toString();
  const owner = nodes.find((n) => nodeIPs(n).includes(text));
  if (owner && endpoint) return via(owner, loopback);
  if (o.mode === "agent") return direct;
  if (owner) return labelled(owner) ? via(owner, direct.target) : direct;

  const byCidr = nodes.find((n) => podCidrs(n).some((c) => c.contains(ip)));
  if (byCidr && labelled(byCidr)) return via(byCidr, direct.target);
  if (o.mode === "cluster") {
    const pod = pods.find((p) =>
      !p.spec?.hostNetwork &&
      (p.status?.podIPs ?? []).some((x) =>
        IP.tryParse(x.ip)?.toString() === text
      )
    );
    const n = pod && nodes.find((n) => n.metadata?.name === pod.spec?.nodeName);
    if (n && labelled(n)) return via(n, direct.target);
  }
  return direct;
}
