// Node (core/v1): the row of the resource table, its schema and columns.

import { isObject, type Json, type KubeObject } from "../object.ts";
import {
  arr,
  bool,
  CORE,
  obj,
  open,
  ref,
  type Schema,
  str,
  strMap,
  time,
} from "../openapi/schema.ts";
import type { ResourceDef } from "../resources.ts";
import { age, col, get, list, type Printer, str as cell } from "../table.ts";

const NAME = `${CORE}.Node`;

const definitions: Record<string, Schema> = {
  [NAME]: obj({
    spec: ref(`${CORE}.NodeSpec`, "The node's desired state."),
    status: ref(`${CORE}.NodeStatus`, "The node's observed state."),
  }, "A node of the cluster (a weft agent or server)."),
  [`${CORE}.NodeSpec`]: obj({
    podCIDR: str(
      "The IP range assigned to the node for its pods (the first of podCIDRs). weft's node IPAM assigns it from --cluster-cidr.",
    ),
    podCIDRs: arr(
      str(),
      "The IP ranges assigned to the node for its pods, at most one per IP family; podCIDRs[0] equals podCIDR.",
      "",
    ),
    providerID: str("The node's ID at its cloud provider."),
    unschedulable: bool("Controls scheduling of new pods on the node."),
    taints: arr(
      ref(`${CORE}.Taint`),
      "Taints of the node (kept, not enforced: weft has no scheduler).",
    ),
  }, "The node's desired state."),
  [`${CORE}.Taint`]: obj(
    {
      key: str(),
      value: str(),
      effect: str(),
      timeAdded: time(),
    },
    "A taint.",
    ["key", "effect"],
  ),
  [`${CORE}.NodeStatus`]: obj({
    addresses: arr(
      ref(`${CORE}.NodeAddress`),
      "The node's addresses (InternalIP, ExternalIP, Hostname).",
      "type",
    ),
    conditions: arr(
      ref(`${CORE}.NodeCondition`),
      "The node's conditions (Ready, NetworkUnavailable, ...).",
      "type",
    ),
    nodeInfo: obj({
      machineID: str(),
      systemUUID: str(),
      bootID: str(),
      kernelVersion: str(),
      osImage: str(),
      containerRuntimeVersion: str(),
      kubeletVersion: str(),
      kubeProxyVersion: str(),
      operatingSystem: str(),
      architecture: str(),
    }, "Versions and ids reported by the node."),
    capacity: strMap("Resources of the node."),
    allocatable: strMap("Resources of the node available to pods."),
    daemonEndpoints: open("Endpoints of daemons on the node."),
    phase: str(),
  }, "The node's observed state."),
  [`${CORE}.NodeAddress`]: obj(
    {
      type: str("InternalIP, ExternalIP, Hostname, ..."),
      address: str(),
    },
    "An address of the node.",
    ["type", "address"],
  ),
  [`${CORE}.NodeCondition`]: obj(
    {
      type: str(),
      status: str("True, False or Unknown."),
      reason: str(),
      message: str(),
      lastHeartbeatTime: time(),
      lastTransitionTime: time(),
    },
    "A condition of the node.",
    ["type", "status"],
  ),
};

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

const printer: Printer = {
  columns: [
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
  ],
  cells: (n, now) => [
    n.metadata.name ?? "",
    nodeStatus(n),
    nodeRoles(n),
    age(n, now),
    cell(get(n, "status.nodeInfo.kubeletVersion"), ""),
    addresses(n, "InternalIP"),
    addresses(n, "ExternalIP"),
    cell(get(n, "status.nodeInfo.osImage"), "<unknown>"),
    cell(get(n, "status.nodeInfo.kernelVersion"), "<unknown>"),
    cell(get(n, "status.nodeInfo.containerRuntimeVersion"), "<unknown>"),
  ],
};

export const NODES: ResourceDef = {
  group: "",
  version: "v1",
  plural: "nodes",
  singular: "node",
  kind: "Node",
  namespaced: false,
  shortNames: ["no"],
  categories: [],
  prefix: "/registry/nodes/",
  status: true,
  fields: ["metadata.name", "spec.unschedulable"],
  nodeAccess: "self",
  schema: { name: NAME, definitions },
  printer,
};
