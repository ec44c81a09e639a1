// Pod and Namespace objects -> what the compiler needs of them.

import type { Pod } from "../kube/mod.ts";
import {
  type NamedPort,
  type Namespace,
  NAMESPACE_NAME_LABEL,
} from "./types.ts";
import type { NamespaceView, PodView, Protocol } from "./types.ts";

const PROTOCOLS: Protocol[] = ["TCP", "UDP", "SCTP"];

/** The pod as the compiler sees it; null when no policy applies to it
 * (host network, finished, or no address yet). */
export function podView(pod: Pod): PodView | null {
  if (pod.spec?.hostNetwork) return null;
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return null;
  const ips = (pod.status?.podIPs ?? []).map((x) => x?.ip)
    .filter((x): x is string => typeof x === "string");
  if (ips.length === 0 && typeof pod.status?.podIP === "string") {
    ips.push(pod.status.podIP);
  }
  if (ips.length === 0) return null;
  const ports: NamedPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of Array.isArray(c?.ports) ? c.ports : []) {
      const protocol = p.protocol ?? "TCP";
      if (
        typeof p.name === "string" && p.name !== "" &&
        Number.isInteger(p.containerPort) && p.containerPort > 0 &&
        p.containerPort < 65536 && PROTOCOLS.includes(protocol)
      ) ports.push({ name: p.name, port: p.containerPort, protocol });
    }
  }
  return {
    namespace: pod.metadata.namespace ?? "default",
    name: pod.metadata.name ?? "",
    labels: pod.metadata.labels ?? {},
    ips,
    nodeName: pod.spec?.nodeName ?? "",
    ports,
  };
}

/** The namespace's labels, with kubernetes.io/metadata.name as Kubernetes sets it. */
export function namespaceView(ns: Namespace): NamespaceView {
  const name = ns.metadata.name ?? "";
  return {
    name,
    labels: { ...ns.metadata.labels, [NAMESPACE_NAME_LABEL]: name },
  };
}
