// A compact way to write the OpenAPI schema of a served kind by hand (only
// the fields weft serves), and the apimachinery definitions every kind
// shares (ObjectMeta, ListMeta, references). References are written as
// v2 `#/definitions/<name>`; the v3 document rewrites them.

import type { JsonObject } from "../object.ts";

export type Schema = JsonObject;

const d = (description: string): Schema => description ? { description } : {};

export const str = (description = ""): Schema => ({
  type: "string",
  ...d(description),
});
export const time = (description = ""): Schema => ({
  type: "string",
  format: "date-time",
  ...d(description),
});
export const int = (description = ""): Schema => ({
  type: "integer",
  format: "int32",
  ...d(description),
});
export const bool = (description = ""): Schema => ({
  type: "boolean",
  ...d(description),
});
/** A map of strings (labels, annotations). */
export const strMap = (description = ""): Schema => ({
  type: "object",
  additionalProperties: { type: "string" },
  ...d(description),
});
/** An object whose fields weft stores but does not describe. */
export const open = (description = ""): Schema => ({
  type: "object",
  "x-kubernetes-preserve-unknown-fields": true,
  ...d(description),
});
export const ref = (name: string, description = ""): Schema => ({
  $ref: `#/definitions/${name}`,
  ...d(description),
});
export const obj = (
  properties: Record<string, Schema>,
  description = "",
  required?: string[],
): Schema => ({
  type: "object",
  ...d(description),
  properties,
  ...(required ? { required } : {}),
});

/** A list; `mergeKey` makes it a strategic-merge list keyed by that field
 * ("" merges a list of scalars as a set), otherwise it is atomic. */
export function arr(items: Schema, description = "", mergeKey?: string) {
  const s: Schema = { type: "array", ...d(description), items };
  if (mergeKey === "") {
    s["x-kubernetes-patch-strategy"] = "merge";
    s["x-kubernetes-list-type"] = "set";
  } else if (mergeKey !== undefined) {
    s["x-kubernetes-patch-strategy"] = "merge";
    s["x-kubernetes-patch-merge-key"] = mergeKey;
    s["x-kubernetes-list-type"] = "map";
    s["x-kubernetes-list-map-keys"] = [mergeKey];
  } else {
    s["x-kubernetes-list-type"] = "atomic";
  }
  return s;
}

export const META = "io.k8s.apimachinery.pkg.apis.meta.v1";
export const CORE = "io.k8s.api.core.v1";

/** Definitions shared by every kind. */
export const COMMON: Record<string, Schema> = {
  [`${META}.ObjectMeta`]: obj({
    name: str("Name must be unique within a namespace."),
    generateName: str(
      "An optional prefix the server uses to generate a unique name.",
    ),
    namespace: str("The namespace the object lives in (namespaced kinds)."),
    uid: str("The unique id the server gave the object when it was created."),
    resourceVersion: str(
      "The version of the object the server holds; sent back for optimistic concurrency.",
    ),
    generation: {
      ...int("Increases on every change of the spec."),
      format: "int64",
    },
    creationTimestamp: time("When the server created the object."),
    deletionTimestamp: time("When the object is to be deleted."),
    labels: strMap("Labels for selecting the object."),
    annotations: strMap("Arbitrary metadata tools attach to the object."),
    finalizers: arr(
      str(),
      "Must be empty before the object is deleted.",
      "",
    ),
    ownerReferences: arr(
      ref(`${META}.OwnerReference`),
      "Objects this object depends on.",
      "uid",
    ),
    managedFields: arr(
      open("A field manager's entry."),
      "Which manager owns which fields (server-side apply).",
    ),
  }, "Standard object metadata."),
  [`${META}.OwnerReference`]: obj(
    {
      apiVersion: str(),
      kind: str(),
      name: str(),
      uid: str(),
      controller: bool(),
      blockOwnerDeletion: bool(),
    },
    "An object that owns this one.",
    ["apiVersion", "kind", "name", "uid"],
  ),
  [`${META}.ListMeta`]: obj({
    resourceVersion: str("The revision the list was read at."),
    continue: str("Set when more items follow; send it to get them."),
    remainingItemCount: { ...int(), format: "int64" },
  }, "Standard list metadata."),
  [`${CORE}.ObjectReference`]: obj({
    apiVersion: str(),
    kind: str(),
    namespace: str(),
    name: str(),
    uid: str(),
    resourceVersion: str(),
    fieldPath: str(),
  }, "A reference to an object."),
};
