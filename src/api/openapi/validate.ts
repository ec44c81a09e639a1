// Server-side field validation (`fieldValidation=Strict|Warn|Ignore`, what
// kubectl sends instead of validating on the client): the fields of an
// object that the kind's schema does not know. Parts of a schema marked
// x-kubernetes-preserve-unknown-fields accept anything.

import { isObject, type Json } from "../object.ts";
import type { ResourceDef } from "../resources.ts";
import { COMMON, type Schema } from "./schema.ts";

const ROOT_FIELDS = ["apiVersion", "kind", "metadata"];

function resolve(s: Schema, defs: Record<string, Schema>): Schema {
  let cur = s;
  for (let i = 0; i < 16 && typeof cur.$ref === "string"; i++) {
    cur = defs[cur.$ref.slice("#/definitions/".length)] ?? {};
  }
  return cur;
}

function walk(
  v: Json,
  s: Schema,
  path: string,
  defs: Record<string, Schema>,
  out: string[],
): void {
  const schema = resolve(s, defs);
  if (Array.isArray(v)) {
    if (isObject(schema.items)) {
      v.forEach((x, i) =>
        walk(x, schema.items as Schema, `${path}[${i}]`, defs, out)
      );
    }
    return;
  }
  if (!isObject(v)) return;
  const props = schema.properties;
  if (isObject(props)) {
    const open = schema["x-kubernetes-preserve-unknown-fields"] === true;
    for (const [k, x] of Object.entries(v)) {
      const p = path ? `${path}.${k}` : k;
      if (Object.hasOwn(props, k) && isObject(props[k])) {
        walk(x, props[k] as Schema, p, defs, out);
      } else if (!open && !(path === "" && ROOT_FIELDS.includes(k))) {
        out.push(p);
      }
    }
  } else if (isObject(schema.additionalProperties)) {
    for (const [k, x] of Object.entries(v)) {
      walk(x, schema.additionalProperties as Schema, `${path}.${k}`, defs, out);
    }
  }
}

/** Paths of the fields of `obj` that the schema of `def` does not know. */
export function unknownFields(def: ResourceDef, obj: Json): string[] {
  const defs = { ...COMMON, ...def.schema.definitions };
  const root: Schema = {
    ...defs[def.schema.name],
    properties: {
      ...(defs[def.schema.name]?.properties as Schema),
      metadata: {
        $ref: "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
      },
    },
  };
  const out: string[] = [];
  walk(obj, root, "", defs, out);
  return out;
}
