// Namespace (core/v1): the row of the resource table. Namespaced objects
// may only be created in a namespace that exists; `default` and
// `kube-system` always exist and cannot be deleted. Every namespace carries
// the label kubernetes.io/metadata.name=<name> (set by the server, as
// Kubernetes does), so a namespaceSelector can pick one by name.

import { ApiError } from "../errors.ts";
import type { KubeObject } from "../object.ts";
import { arr, CORE, obj, ref, type Schema, str } from "../openapi/schema.ts";
import type { ResourceDef } from "../resources.ts";
import { age, col, get, type Printer, str as cell } from "../table.ts";

const NAME = `${CORE}.Namespace`;

/** The label every namespace carries with its own name. */
export const NAME_LABEL = "kubernetes.io/metadata.name";

/** Namespaces the server creates at start and never deletes. */
export const SYSTEM_NAMESPACES = ["default", "kube-system"] as const;

const definitions: Record<string, Schema> = {
  [NAME]: obj({
    spec: ref(`${CORE}.NamespaceSpec`),
    status: ref(`${CORE}.NamespaceStatus`),
  }, "A scope for names of namespaced objects."),
  [`${CORE}.NamespaceSpec`]: obj({
    finalizers: arr(str(), "Must be empty before the namespace is removed."),
  }, "The namespace's desired state."),
  [`${CORE}.NamespaceStatus`]: obj({
    phase: str("Active or Terminating."),
  }, "The namespace's observed state."),
};

const printer: Printer = {
  columns: [
    col("Name", "Name must be unique within a namespace.", 0, "string", "name"),
    col("Status", "The status of the namespace"),
    col("Age", "CreationTimestamp of the object."),
  ],
  cells: (ns, now) => [
    ns.metadata.name ?? "",
    cell(get(ns, "status.phase"), "Active"),
    age(ns, now),
  ],
};

function prepare(ns: KubeObject, old: KubeObject | null): void {
  const name = ns.metadata.name;
  if (name !== undefined && name.length > 63) {
    throw ApiError.invalid(
      "Namespace",
      name,
      "metadata.name",
      "must be no more than 63 characters (an RFC 1123 label)",
    );
  }
  if (name !== undefined && name.includes(".")) {
    throw ApiError.invalid(
      "Namespace",
      name,
      "metadata.name",
      "a namespace name is an RFC 1123 label: no '.'",
    );
  }
  ns.metadata.labels = { ...ns.metadata.labels, [NAME_LABEL]: name ?? "" };
  if (!old) {
    ns.spec = { finalizers: ["kubernetes"], ...ns.spec };
    ns.status = { phase: "Active" };
  }
}

export const NAMESPACES: ResourceDef = {
  group: "",
  version: "v1",
  plural: "namespaces",
  singular: "namespace",
  kind: "Namespace",
  namespaced: false,
  shortNames: ["ns"],
  categories: [],
  prefix: "/registry/namespaces/",
  status: true,
  fields: ["metadata.name", "status.phase"],
  nodeAccess: "read",
  schema: { name: NAME, definitions },
  printer,
  prepare,
  undeletable: SYSTEM_NAMESPACES,
};
