// The OpenAPI documents kubectl reads (v3 for explain, apply and for
// finding out that the server validates fields itself; v2 for older
// tools), generated from the resource table and each kind's hand-written
// schema. They never change while the server runs: built once, with a
// content hash for ETags and for v3's `?hash=` immutable URLs.

import { KUBE_VERSION } from "../discovery.ts";
import type { JsonObject } from "../object.ts";
import { basePath, type ResourceDef, RESOURCES } from "../resources.ts";
import { COMMON, META, type Schema } from "./schema.ts";

const PATCH_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml",
];

const INFO = {
  title: "Kubernetes",
  version: `v${KUBE_VERSION.major}.${KUBE_VERSION.minor}.${KUBE_VERSION.patch}`,
};

interface Param {
  name: string;
  in: "query" | "path";
  description: string;
  type: "string" | "boolean" | "integer";
  required?: boolean;
}

const q = (
  name: string,
  type: Param["type"],
  description: string,
): Param => ({ name, in: "query", type, description });

const LIST_PARAMS = [
  q("labelSelector", "string", "Select objects by their labels."),
  q("fieldSelector", "string", "Select objects by their fields."),
  q(
    "limit",
    "integer",
    "At most this many objects; more come with `continue`.",
  ),
  q("continue", "string", "The token of the previous page."),
  q("resourceVersion", "string", "The revision to list or watch from."),
  q("resourceVersionMatch", "string", "Exact or NotOlderThan."),
  q("watch", "boolean", "Stream changes after the listed revision."),
  q("allowWatchBookmarks", "boolean", "Send BOOKMARK events."),
  q("sendInitialEvents", "boolean", "Start a watch with the current state."),
  q("timeoutSeconds", "integer", "End the watch after this long."),
];
const WRITE_PARAMS = [
  q("dryRun", "string", "All: validate and answer, but store nothing."),
  q("fieldManager", "string", "Who makes the change (required for apply)."),
  q(
    "fieldValidation",
    "string",
    "Strict, Warn or Ignore: what unknown fields do.",
  ),
];
const APPLY_PARAMS = [
  q("force", "boolean", "Apply even when another manager owns a field."),
];

const gvkOf = (def: ResourceDef, kind = def.kind) => ({
  group: def.group,
  version: def.version,
  kind,
});

interface Op {
  action: string;
  method: "get" | "post" | "put" | "patch" | "delete";
  params: Param[];
  body?: "object" | "patch";
  result: "object" | "list" | "status";
}

/** Every path of a resource and its operations. */
function pathsOf(def: ResourceDef): [string, Op[], Param[]][] {
  const base = basePath(def);
  const nsParam: Param = {
    name: "namespace",
    in: "path",
    type: "string",
    required: true,
    description: "The object's namespace.",
  };
  const nameParam: Param = {
    name: "name",
    in: "path",
    type: "string",
    required: true,
    description: `The ${def.singular}'s name.`,
  };
  const scope = def.namespaced ? `${base}/namespaces/{namespace}` : base;
  const scopeParams = def.namespaced ? [nsParam] : [];
  const list: Op = {
    action: "list",
    method: "get",
    params: LIST_PARAMS,
    result: "list",
  };
  const item: Op[] = [
    { action: "get", method: "get", params: [], result: "object" },
    {
      action: "put",
      method: "put",
      params: WRITE_PARAMS,
      body: "object",
      result: "object",
    },
    {
      action: "patch",
      method: "patch",
      params: [...WRITE_PARAMS, ...APPLY_PARAMS],
      body: "patch",
      result: "object",
    },
  ];
  const out: [string, Op[], Param[]][] = [
    [`${scope}/${def.plural}`, [list, {
      action: "post",
      method: "post",
      params: WRITE_PARAMS,
      body: "object",
      result: "object",
    }], scopeParams],
    [`${scope}/${def.plural}/{name}`, [...item, {
      action: "delete",
      method: "delete",
      params: [q("dryRun", "string", "All: delete nothing.")],
      result: "status",
    }], [...scopeParams, nameParam]],
  ];
  if (def.status) {
    out.push([
      `${scope}/${def.plural}/{name}/status`,
      item,
      [...scopeParams, nameParam],
    ]);
  }
  if (def.namespaced) out.push([`${base}/${def.plural}`, [list], []]);
  return out;
}

function opId(def: ResourceDef, op: Op, path: string): string {
  const gv = (def.group.split(".")[0] ?? "") + def.version;
  const sub = path.endsWith("/status") ? "Status" : "";
  const all = def.namespaced && !path.includes("{namespace}")
    ? "ForAllNamespaces"
    : def.namespaced
    ? "Namespaced"
    : "";
  return `${op.action}${gv}${all}${def.kind}${sub}`;
}

/** The definitions of the kinds of `defs` (with List kinds) and COMMON. */
function definitions(defs: readonly ResourceDef[]): Record<string, Schema> {
  const out: Record<string, Schema> = { ...COMMON };
  out[`${META}.Status`] = {
    type: "object",
    description: "The result of an operation that returns no object.",
    "x-kubernetes-preserve-unknown-fields": true,
  };
  for (const def of defs) {
    Object.assign(out, def.schema.definitions);
    const root = def.schema.definitions[def.schema.name];
    out[def.schema.name] = {
      ...root,
      properties: {
        apiVersion: {
          type: "string",
          description: "The object's API version.",
        },
        kind: { type: "string", description: "The object's kind." },
        metadata: {
          $ref: `#/definitions/${META}.ObjectMeta`,
          description: "Standard object metadata.",
        },
        ...(root.properties as JsonObject),
      },
      "x-kubernetes-group-version-kind": [gvkOf(def)],
    };
    out[`${def.schema.name}List`] = {
      type: "object",
      description: `A list of ${def.plural}.`,
      required: ["items"],
      properties: {
        apiVersion: { type: "string" },
        kind: { type: "string" },
        metadata: { $ref: `#/definitions/${META}.ListMeta` },
        items: {
          type: "array",
          items: { $ref: `#/definitions/${def.schema.name}` },
        },
      },
      "x-kubernetes-group-version-kind": [gvkOf(def, `${def.kind}List`)],
    };
  }
  return out;
}

function resultRef(def: ResourceDef, op: Op): string {
  return op.result === "list"
    ? `${def.schema.name}List`
    : op.result === "status"
    ? `${META}.Status`
    : def.schema.name;
}

export function openApiV2(): JsonObject {
  const paths: JsonObject = {};
  for (const def of RESOURCES) {
    for (const [path, ops, common] of pathsOf(def)) {
      const item: JsonObject = {
        parameters: common.map((p) => ({ ...p, uniqueItems: true })),
      };
      for (const op of ops) {
        const params: JsonObject[] = op.params.map((p) => ({
          ...p,
          uniqueItems: true,
        }));
        if (op.body) {
          params.unshift({
            name: "body",
            in: "body",
            required: true,
            schema: op.body === "patch"
              ? { $ref: `#/definitions/${META}.Patch` }
              : { $ref: `#/definitions/${def.schema.name}` },
          });
        }
        item[op.method] = {
          operationId: opId(def, op, path),
          consumes: op.body === "patch" ? PATCH_TYPES : ["*/*"],
          produces: ["application/json", "application/yaml"],
          schemes: ["https"],
          parameters: params,
          responses: {
            "200": {
              description: "OK",
              schema: { $ref: `#/definitions/${resultRef(def, op)}` },
            },
            "401": { description: "Unauthorized" },
          },
          "x-kubernetes-action": op.action === "list" ? "list" : op.action,
          "x-kubernetes-group-version-kind": gvkOf(def),
        };
      }
      paths[path] = item;
    }
  }
  const defs = definitions(RESOURCES);
  defs[`${META}.Patch`] = {
    type: "object",
    description: "A patch document (its format is the request's content type).",
  };
  return { swagger: "2.0", info: INFO, paths, definitions: defs };
}

/** v3 wants `allOf` around a reference that carries a description. */
function toV3Schemas(defs: Record<string, Schema>): JsonObject {
  const text = JSON.stringify(defs).replaceAll(
    '"#/definitions/',
    '"#/components/schemas/',
  );
  const fix = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(fix);
    if (typeof v !== "object" || v === null) return v;
    const o = Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, fix(x)]),
    );
    if (typeof o.$ref === "string" && Object.keys(o).length > 1) {
      const { $ref, ...rest } = o;
      return { allOf: [{ $ref }], ...rest };
    }
    return o;
  };
  return fix(JSON.parse(text)) as JsonObject;
}

/** The v3 document of one group/version ("api/v1", "apis/<g>/<v>"). */
export function openApiV3(gvPath: string): JsonObject | null {
  const defs = RESOURCES.filter((d) => basePath(d).slice(1) === gvPath);
  if (defs.length === 0) return null;
  const paths: JsonObject = {};
  const json = (ref: string) => ({
    schema: { $ref: `#/components/schemas/${ref}` },
  });
  for (const def of defs) {
    for (const [path, ops, common] of pathsOf(def)) {
      const param = (p: Param) => ({
        name: p.name,
        in: p.in,
        description: p.description,
        ...(p.required ? { required: true } : {}),
        schema: { type: p.type, uniqueItems: true },
      });
      const item: JsonObject = { parameters: common.map(param) };
      for (const op of ops) {
        const o: JsonObject = {
          operationId: opId(def, op, path),
          parameters: op.params.map(param),
          responses: {
            "200": {
              description: "OK",
              content: {
                "application/json": json(resultRef(def, op)),
              },
            },
            "401": { description: "Unauthorized" },
          },
          "x-kubernetes-action": op.action,
          "x-kubernetes-group-version-kind": gvkOf(def),
        };
        if (op.body === "object") {
          o.requestBody = {
            required: true,
            content: { "*/*": json(def.schema.name) },
          };
        } else if (op.body === "patch") {
          o.requestBody = {
            required: true,
            content: Object.fromEntries(
              PATCH_TYPES.map((t) => [t, json(`${META}.Patch`)]),
            ),
          };
        }
        item[op.method] = o;
      }
      paths[path] = item;
    }
  }
  const schemas = definitions(defs);
  schemas[`${META}.Patch`] = {
    type: "object",
    description: "A patch document (its format is the request's content type).",
  };
  return {
    openapi: "3.0.0",
    info: INFO,
    paths,
    components: { schemas: toV3Schemas(schemas) },
  };
}

/** Every group/version path with a v3 document. */
export function openApiV3Paths(): string[] {
  return [...new Set(RESOURCES.map((d) => basePath(d).slice(1)))];
}
