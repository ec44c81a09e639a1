// Server-side printing: the meta.k8s.io/v1 Table kubectl asks for with
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, giving
// `kubectl get nodes` its NAME STATUS ROLES AGE VERSION columns.

import type { Json, KubeObject } from "./object.ts";
import { isObject } from "./object.ts";
import type { ResourceDef } from "./resources.ts";

interface Column {
  name: string;
  type: "string" | "integer";
  format: string;
  description: string;
  priority: number;
}

export interface Table {
  kind: "Table";
  apiVersion: "meta.k8s.io/v1";
  metadata: { resourceVersion?: string };
  columnDefinitions: Column[];
  rows: { cells: Json[]; object: Json }[];
}

/** True when the Accept header asks for a Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(",").some((part) =>
    /;\s*as=Table/.test(part) && /;\s*g=meta\.k8s\.io/.test(part) &&
    /;\s*v=v1(\s*;|$)/.test(part + ";")
  );
}

function col(
  name: string,
  description: string,
  priority = 0,
  type: Column["type"] = "string",
  format = "",
): Column {
  return { name, type, format, description, priority };
}

const NODE_COLUMNS = [
  col("Name", "Name must be unique within a namespace.", 0, "string", "name"),
  col("Status", "The status of the node"),
  col("Roles", "The roles of the node"),
  col("Age", "CreationTimestamp of the object."),
  col("Version", "Kubelet Version reported by the node."),
  col("Internal-IP", "List of internal IPs.", 1),
  col("External-IP", "List of external IPs.", 1),
  col("OS-Image", "OS image reported by the node.", 1),
  col("Kernel-Version", "Kernel version reported by the node.", 1),
  col("Container-Runtime", "Container runtime reported by the node.", 1),
];

const POD_COLUMNS = [
  col("Name", "Name must be unique within a namespace.", 0, "string", "name"),
  col("Ready", "The aggregate readiness state of this pod."),
  col("Status", "The aggregate status of the containers in this pod."),
  col("Restarts", "The number of times the containers have restarted.", 0),
  col("Age", "CreationTimestamp of the object."),
  col("IP", "IP address assigned to the pod.", 1),
  col("Node", "Name of the node the pod is assigned to.", 1),
];

/** Kubernetes' HumanDuration ("5m", "3h12m", "4d"). */
function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) {
    return h % 24 === 0 ? `${h / 24 | 0}d` : `${h / 24 | 0}d${h % 24}h`;
  }
  const d = Math.floor(h / 24);
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (y < 8) return `${y}y${d % 365}d`;
  return `${y}y`;
}

function age(obj: KubeObject, now: number): string {
  const t = Date.parse(obj.metadata.creationTimestamp ?? "");
  return Number.isNaN(t) ? "<unknown>" : humanDuration(now - t);
}

function get(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const p of path.split(".")) cur = isObject(cur) ? cur[p] : undefined;
  return cur;
}

function list(obj: unknown, path: string): Json[] {
  const v = get(obj, path);
  return Array.isArray(v) ? v : [];
}

function nodeStatus(n: KubeObject): string {
  const ready = list(n, "status.conditions").find((c) =>
    isObject(c) && c.type === "Ready"
  );
  let s = !isObject(ready)
    ? "Unknown"
    : ready.status === "True"
    ? "Ready"
    : ready.status === "False"
    ? "NotReady"
    : "Unknown";
  if (get(n, "spec.unschedulable") === true) s += ",SchedulingDisabled";
  return s;
}

function nodeRoles(n: KubeObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(n.metadata.labels ?? {})) {
    if (k.startsWith("node-role.kubernetes.io/")) {
      roles.add(k.slice("node-role.kubernetes.io/".length));
    } else if (k === "kubernetes.io/role" && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(",") : "<none>";
}

function addresses(n: KubeObject, type: string): string {
  const ips = list(n, "status.addresses").filter((a) =>
    isObject(a) && a.type === type
  ).map((a) => String((a as Record<string, Json>).address));
  return ips.length ? ips.join(",") : "<none>";
}

function str(v: unknown, dflt = "<none>"): string {
  return typeof v === "string" && v !== "" ? v : dflt;
}

function nodeCells(n: KubeObject, now: number): Json[] {
  return [
    n.metadata.name ?? "",
    nodeStatus(n),
    nodeRoles(n),
    age(n, now),
    str(get(n, "status.nodeInfo.kubeletVersion"), ""),
    addresses(n, "InternalIP"),
    addresses(n, "ExternalIP"),
    str(get(n, "status.nodeInfo.osImage"), "<unknown>"),
    str(get(n, "status.nodeInfo.kernelVersion"), "<unknown>"),
    str(get(n, "status.nodeInfo.containerRuntimeVersion"), "<unknown>"),
  ];
}

function podCells(p: KubeObject, now: number): Json[] {
  const containers = list(p, "spec.containers");
  const statuses = list(p, "status.containerStatuses");
  const ready = statuses.filter((s) => isObject(s) && s.ready === true).length;
  const restarts = statuses.reduce<number>(
    (n, s) =>
      n +
      (isObject(s) && typeof s.restartCount === "number" ? s.restartCount : 0),
    0,
  );
  const status = p.metadata.deletionTimestamp
    ? "Terminating"
    : str(get(p, "status.reason"), str(get(p, "status.phase"), "Pending"));
  return [
    p.metadata.name ?? "",
    `${ready}/${containers.length}`,
    status,
    restarts,
    age(p, now),
    str(get(p, "status.podIP")),
    str(get(p, "spec.nodeName")),
  ];
}

function rowObject(obj: KubeObject, include: string): Json {
  if (include === "None") return null;
  if (include === "Object") return obj as unknown as Json;
  return {
    kind: "PartialObjectMetadata",
    apiVersion: "meta.k8s.io/v1",
    metadata: obj.metadata as unknown as Json,
  };
}

/** `includeObject` is the request's query parameter (None|Metadata|Object). */
export function toTable(
  def: ResourceDef,
  items: KubeObject[],
  resourceVersion: string | undefined,
  includeObject = "Metadata",
  now = Date.now(),
): Table {
  const cells = def.kind === "Node" ? nodeCells : podCells;
  const table: Table = {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: {},
    columnDefinitions: def.kind === "Node" ? NODE_COLUMNS : POD_COLUMNS,
    rows: items.map((o) => ({
      cells: cells(o, now),
      object: rowObject(o, includeObject),
    })),
  };
  if (resourceVersion !== undefined) {
    table.metadata.resourceVersion = resourceVersion;
  }
  return table;
}
