// Pod and Namespace objects -> what the compiler needs of them. The objects
// come from the API as parsed JSON: every field is checked for its type, and
// what does not fit is left out (never thrown on).

import type { Pod } from "../kube/mod.ts";
import {
  type NamedPort,
  type Namespace,
  NAMESPACE_NAME_LABEL,
  type NamespaceView,
  type PodView,
  type Protocol,
} from "./types.ts";

const PROTOCOLS: Protocol[] = ["TCP", "UDP", "SCTP"];

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? v as Obj : {};
const arr = (v: unknown): unknown[] => Array.isArray(v) ? v : [];
const str = (v: unknown): string | undefined =>
  typeof v === "string" ? v : undefined;

/** String-valued labels only. */
function labels(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v))) {
    if (typeof x === "string") out[k] = x;
  }
  return out;
}

function namedPorts(spec: Obj): NamedPort[] {
  const ports: NamedPort[] = [];
  for (const c of arr(spec.containers)) {
    for (const p of arr(obj(c).ports).map(obj)) {
      const protocol = (p.protocol ?? "TCP") as Protocol;
      const port = p.containerPort;
      if (
        typeof p.name === "string" && p.name !== "" &&
        typeof port === "number" && Number.isInteger(port) && port > 0 &&
        port < 65536 && PROTOCOLS.includes(protocol)
      ) ports.push({ name: p.name, port, protocol });
    }
  }
  return ports;
}

/** The pod as the compiler sees it; null when no policy applies to it
 * (host network, finished, or no address yet). */
export function podView(pod: Pod): PodView | null {
  const spec = obj(pod.spec), status = obj(pod.status);
  const meta = obj(pod.metadata);
  if (spec.hostNetwork === true) return null;
  if (status.phase === "Succeeded" || status.phase === "Failed") return null;
  const ips = arr(status.podIPs).map((x) => str(obj(x).ip))
    .filter((x) => x !== undefined);
  const single = str(status.podIP);
  if (ips.length === 0 && single) ips.push(single);
  if (ips.length === 0) return null;
  return {
    namespace: str(meta.namespace) ?? "default",
    name: str(meta.name) ?? "",
    labels: labels(meta.labels),
    ips,
    nodeName: str(spec.nodeName) ?? "",
    ports: namedPorts(spec),
  };
}

/**
 * What the controller's cache keeps of a Pod (its informer's `slim`): the
 * fields podView reads, as they came, and the identity the informer needs.
 * podView(slimPod(p)) is podView(p); the rest (managed fields, annotations,
 * volumes, container specs, conditions) is not kept for every pod of the
 * cluster.
 */
export function slimPod(pod: Pod): Pod {
  const meta = obj(pod.metadata), spec = obj(pod.spec);
  const status = obj(pod.status);
  return {
    metadata: {
      name: str(meta.name) ?? "",
      namespace: str(meta.namespace),
      resourceVersion: str(meta.resourceVersion),
      labels: labels(meta.labels),
    },
    spec: {
      nodeName: spec.nodeName as string | undefined,
      hostNetwork: spec.hostNetwork as boolean | undefined,
      containers: arr(spec.containers).map((c) => ({
        name: str(obj(c).name) ?? "",
        ports: obj(c).ports,
      })) as unknown as NonNullable<Pod["spec"]>["containers"],
    },
    status: {
      phase: status.phase as NonNullable<Pod["status"]>["phase"],
      podIP: status.podIP as string | undefined,
      podIPs: status.podIPs as { ip: string }[] | undefined,
    },
  };
}

/** What the controller's cache keeps of a Namespace: identity and labels. */
export function slimNamespace(ns: Namespace): Namespace {
  const meta = obj(ns.metadata);
  return {
    metadata: {
      name: str(meta.name) ?? "",
      resourceVersion: str(meta.resourceVersion),
      labels: labels(meta.labels),
    },
  };
}

/** The namespace's labels, with kubernetes.io/metadata.name as Kubernetes sets it. */
export function namespaceView(ns: Namespace): NamespaceView {
  const meta = obj(ns.metadata);
  const name = str(meta.name) ?? "";
  return {
    name,
    labels: { ...labels(meta.labels), [NAMESPACE_NAME_LABEL]: name },
  };
}
