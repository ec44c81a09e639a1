// The strategic merge keys of a kind, read from its schema's
// x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key extensions:
// the schema kubectl reads and the server's patch agree by construction.

import { isObject } from "../object.ts";
import type { MergeKeys } from "../patch.ts";
import type { ResourceDef } from "../resources.ts";
import { COMMON, META, type Schema } from "./schema.ts";

/** Deeper than any served schema; stops a recursive one. */
const MAX_DEPTH = 12;

function collect(
  s: Schema,
  path: string,
  defs: Record<string, Schema>,
  out: MergeKeys,
  depth: number,
): void {
  if (depth > MAX_DEPTH) return;
  const ref = typeof s.$ref === "string"
    ? defs[s.$ref.slice("#/definitions/".length)]
    : undefined;
  const schema = ref ?? s;
  if (schema.type === "array") {
    const strategy = String(schema["x-kubernetes-patch-strategy"] ?? "");
    if (strategy.split(",").includes("merge")) {
      const key = schema["x-kubernetes-patch-merge-key"];
      out[path] = typeof key === "string" ? key : "";
    }
    if (isObject(schema.items)) {
      collect(schema.items, `${path}[]`, defs, out, depth + 1);
    }
    return;
  }
  if (isObject(schema.properties)) {
    for (const [k, v] of Object.entries(schema.properties)) {
      if (isObject(v)) {
        collect(v, path ? `${path}.${k}` : k, defs, out, depth + 1);
      }
    }
  }
}

const cache = new WeakMap<ResourceDef, MergeKeys>();

/** Field path (dots, `[]` for list items) -> merge key ("" = set). */
export function mergeKeysOf(def: ResourceDef): MergeKeys {
  let keys = cache.get(def);
  if (!keys) {
    const defs = { ...COMMON, ...def.schema.definitions };
    const root = defs[def.schema.name];
    keys = {};
    collect(
      {
        ...root,
        properties: {
          ...(root.properties as Schema),
          metadata: { $ref: `#/definitions/${META}.ObjectMeta` },
        },
      },
      "",
      defs,
      keys,
      0,
    );
    cache.set(def, keys);
  }
  return keys;
}
