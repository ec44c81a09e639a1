// The resources the API serves: where each lives in the store, how its
// fields are selected and how strategic merge patches merge its lists.

import type { KubeObject } from "./object.ts";
import type { MergeKeys } from "./patch.ts";

export interface ResourceDef {
  plural: "nodes" | "pods";
  singular: string;
  kind: "Node" | "Pod";
  namespaced: boolean;
  shortNames: string[];
  /** Store prefix of all objects (ends with "/"). */
  prefix: string;
  mergeKeys: MergeKeys;
  /** Fields usable in a fieldSelector. */
  fields: readonly string[];
}

export const NODES: ResourceDef = {
  plural: "nodes",
  singular: "node",
  kind: "Node",
  namespaced: false,
  shortNames: ["no"],
  prefix: "/registry/nodes/",
  mergeKeys: {
    "metadata.finalizers": "",
    "metadata.ownerReferences": "uid",
    "spec.podCIDRs": "",
    "status.conditions": "type",
    "status.addresses": "type",
  },
  fields: ["metadata.name", "spec.unschedulable"],
};

export const PODS: ResourceDef = {
  plural: "pods",
  singular: "pod",
  kind: "Pod",
  namespaced: true,
  shortNames: ["po"],
  prefix: "/registry/pods/",
  mergeKeys: {
    "metadata.finalizers": "",
    "metadata.ownerReferences": "uid",
    "spec.containers": "name",
    "spec.initContainers": "name",
    "spec.containers[].ports": "containerPort",
    "spec.containers[].env": "name",
    "spec.containers[].volumeMounts": "mountPath",
    "spec.volumes": "name",
    "status.conditions": "type",
    "status.podIPs": "ip",
  },
  fields: [
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
  ],
};

export function storeKey(
  def: ResourceDef,
  namespace: string | undefined,
  name: string,
): string {
  return def.namespaced
    ? `${def.prefix}${namespace}/${name}`
    : `${def.prefix}${name}`;
}

export function listPrefix(
  def: ResourceDef,
  namespace: string | undefined,
): string {
  return def.namespaced && namespace
    ? `${def.prefix}${namespace}/`
    : def.prefix;
}

/** The value of a selectable field ("" for unset, as Kubernetes does). */
export function fieldValue(obj: KubeObject, field: string): string {
  let cur: unknown = obj;
  for (const part of field.split(".")) {
    cur = typeof cur === "object" && cur !== null
      ? (cur as Record<string, unknown>)[part]
      : undefined;
  }
  if (cur === undefined || cur === null) {
    return field === "spec.unschedulable" ? "false" : "";
  }
  return String(cur);
}
