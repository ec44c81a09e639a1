// The resources the API serves, one row each: where a kind lives in the
// store, its group/version, how its fields are selected, how strategic
// merge patches merge its lists (from its schema), what a node credential may do with it,
// its OpenAPI schema and its `kubectl get` columns. Routes, discovery,
// authorization and the OpenAPI documents are all built from RESOURCES:
// serving another kind is one more row (and its kinds/ file).

import { EVENTS, EVENTS_V1 } from "./kinds/event.ts";
import { NAMESPACES } from "./kinds/namespace.ts";
import { NETWORK_POLICIES } from "./kinds/networkpolicy.ts";
import { NODES } from "./kinds/node.ts";
import { PODS } from "./kinds/pod.ts";
import type { KubeObject } from "./object.ts";
import type { Schema } from "./openapi/schema.ts";
import type { Printer } from "./table.ts";

/**
 * What a node credential may do (NodeRestriction-like); the admin may do
 * everything, a node never deletes.
 * - read: get/list/watch only
 * - self: also write the object named after the node
 * - bound: also write objects whose spec.nodeName is the node
 * - write: also create/update/patch any object
 */
export type NodeAccess = "read" | "self" | "bound" | "write";

export interface ResourceDef {
  /** "" for the core group (served under /api). */
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Store prefix of all objects (ends with "/"). Two rows may share one
   * (two versions of a kind); `convert` maps between them. */
  prefix: string;
  /** Serves the status subresource (writes through it change only status). */
  status: boolean;
  /** Fields usable in a fieldSelector. */
  fields: readonly string[];
  nodeAccess: NodeAccess;
  /** OpenAPI: the kind's definition name and every definition it needs
   * (its own under that name; apiVersion/kind/metadata are added). */
  schema: { name: string; definitions: Record<string, Schema> };
  printer: Printer;
  /** Server-managed fields, before validation, on create (`old` null) and
   * update. May throw ApiError. */
  prepare?(obj: KubeObject, old: KubeObject | null): void;
  /** Between this version and the stored form (another row's version). */
  convert?: {
    fromStored(o: KubeObject): KubeObject;
    toStored(o: KubeObject): KubeObject;
  };
  /** Objects are deleted `ms` after the time `since` reads from them
   * (events: an hour after they last happened). */
  ttl?: { ms: number; since(obj: KubeObject): string };
  /** Objects that may not be deleted (system namespaces). */
  undeletable?: readonly string[];
}

export const RESOURCES: readonly ResourceDef[] = [
  NODES,
  PODS,
  NAMESPACES,
  EVENTS,
  EVENTS_V1,
  NETWORK_POLICIES,
];

export { EVENTS, EVENTS_V1, NAMESPACES, NODES, PODS };

/** "v1" or "<group>/<version>". */
export function groupVersion(def: ResourceDef): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/** The URL path of the group/version: /api/v1 or /apis/<group>/<version>. */
export function basePath(def: ResourceDef): string {
  return def.group
    ? `/apis/${def.group}/${def.version}`
    : `/api/${def.version}`;
}

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
