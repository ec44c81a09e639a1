// The three patch types kubectl and client libraries send:
// application/merge-patch+json (RFC 7386), application/json-patch+json
// (RFC 6902) and application/strategic-merge-patch+json (Kubernetes: lists
// merged by a key per field, `$patch` and `$deleteFromPrimitiveList`
// directives; `$setElementOrder` and `$retainKeys` are accepted and ignored).

import { ApiError } from "./errors.ts";
import { parseClientJson } from "./json.ts";
import { isObject, type Json, type JsonObject } from "./object.ts";

export const MERGE_PATCH = "application/merge-patch+json";
export const JSON_PATCH = "application/json-patch+json";
export const STRATEGIC_PATCH = "application/strategic-merge-patch+json";

/** Field path (dots, `[]` for list items) -> merge key, or "" for a list of
 * primitives merged as a set. Lists not named here are replaced. */
export type MergeKeys = Record<string, string>;

/** `o[k]` when `k` is o's own key: never a member of Object.prototype. */
function own(o: JsonObject, k: string): Json | undefined {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

/** `o[k] = v` as an own property, also for the key "__proto__". */
function setOwn(o: JsonObject, k: string, v: Json): void {
  Object.defineProperty(o, k, {
    value: v,
    writable: true,
    enumerable: true,
    configurable: true,
  });
}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setOwn(out, k, mergePatch(own(out, k) ?? null, v));
  }
  return out;
}

export function strategicMergePatch(
  target: Json,
  patch: Json,
  keys: MergeKeys,
): Json {
  return smpValue(target, patch, "", keys) ?? null;
}

function smpValue(
  target: Json | undefined,
  patch: Json,
  path: string,
  keys: MergeKeys,
): Json | undefined {
  if (!isObject(patch)) return structuredClone(patch);
  const directive = patch["$patch"];
  if (directive === "delete") return undefined;
  if (directive === "replace") {
    const copy = structuredClone(patch);
    delete copy["$patch"];
    return copy;
  }
  if (directive !== undefined) {
    throw ApiError.badRequest(
      `unknown $patch directive ${JSON.stringify(directive)}`,
    );
  }
  const out: JsonObject = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      const cur = own(out, field);
      if (Array.isArray(cur) && Array.isArray(v)) {
        setOwn(out, field, cur.filter((x) => !v.some((d) => d === x)));
      }
      continue;
    }
    if (k.startsWith("$setElementOrder/") || k === "$retainKeys") continue;
    const sub = path ? `${path}.${k}` : k;
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v) && Object.hasOwn(keys, sub)) {
      setOwn(out, k, mergeList(own(out, k), v, sub, keys));
    } else {
      const r = smpValue(own(out, k), v, sub, keys);
      if (r === undefined) delete out[k];
      else setOwn(out, k, r);
    }
  }
  return out;
}

function mergeList(
  target: Json | undefined,
  patch: Json[],
  path: string,
  keys: MergeKeys,
): Json[] {
  const key = keys[path];
  if (patch.some((p) => isObject(p) && p["$patch"] === "replace")) {
    return structuredClone(
      patch.filter((p) => !(isObject(p) && p["$patch"] === "replace")),
    );
  }
  const out: Json[] = Array.isArray(target) ? structuredClone(target) : [];
  if (key === "") {
    for (const p of patch) if (!out.some((x) => x === p)) out.push(p);
    return out;
  }
  for (const p of patch) {
    if (!isObject(p) || p[key] === undefined) {
      throw ApiError.badRequest(
        `items of ${path} must be objects with the merge key ${
          JSON.stringify(key)
        }`,
      );
    }
    const i = out.findIndex((x) => isObject(x) && x[key] === p[key]);
    if (p["$patch"] === "delete") {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    const merged = smpValue(i >= 0 ? out[i] : undefined, p, `${path}[]`, keys);
    if (merged === undefined) continue;
    if (i >= 0) out[i] = merged;
    else out.push(merged);
  }
  return out;
}

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) {
    throw ApiError.badRequest(`invalid JSON pointer ${JSON.stringify(path)}`);
  }
  return path.slice(1).split("/").map((s) =>
    s.replaceAll("~1", "/").replaceAll("~0", "~")
  );
}

const INDEX = /^(0|[1-9][0-9]*)$/;

/** The member `t` of `v` (an array index or an object key); 400 if absent. */
function member(v: Json, t: string, path: string): Json {
  const m = Array.isArray(v)
    ? (INDEX.test(t) ? v[Number(t)] : undefined)
    : isObject(v)
    ? own(v, t)
    : undefined;
  if (m === undefined) {
    throw ApiError.badRequest(
      `JSON patch path ${JSON.stringify(path)} does not exist`,
    );
  }
  return m;
}

function resolveParent(doc: Json, tokens: string[], path: string): Json {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) cur = member(cur, t, path);
  return cur;
}

function getAt(doc: Json, path: string): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) return doc;
  return member(resolveParent(doc, tokens, path), tokens.at(-1)!, path);
}

function removeAt(doc: Json, path: string): Json {
  const tokens = pointer(path);
  const parent = resolveParent(doc, tokens, path);
  const last = tokens.at(-1)!;
  const old = getAt(doc, path);
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else if (isObject(parent)) delete parent[last];
  return old;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const parent = resolveParent(doc, tokens, path);
  const last = tokens.at(-1)!;
  if (Array.isArray(parent)) {
    const i = last === "-"
      ? parent.length
      : INDEX.test(last)
      ? Number(last)
      : NaN;
    if (!Number.isInteger(i) || i < 0 || i > parent.length) {
      throw ApiError.badRequest(
        `JSON patch index ${JSON.stringify(last)} is out of range`,
      );
    }
    if (replace) parent[i] = value;
    else parent.splice(i, 0, value);
  } else if (isObject(parent)) {
    if (replace && !Object.hasOwn(parent, last)) {
      throw ApiError.badRequest(
        `JSON patch path ${JSON.stringify(path)} does not exist`,
      );
    }
    setOwn(parent, last, value);
  } else {
    throw ApiError.badRequest(
      `JSON patch path ${JSON.stringify(path)} has no container`,
    );
  }
  return doc;
}

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) {
    throw ApiError.badRequest("a JSON patch must be an array of operations");
  }
  let doc = structuredClone(target);
  for (const raw of ops) {
    if (
      !isObject(raw) || typeof raw.op !== "string" ||
      typeof raw.path !== "string"
    ) {
      throw ApiError.badRequest(
        `invalid JSON patch operation ${JSON.stringify(raw)}`,
      );
    }
    const op = raw as unknown as JsonPatchOp;
    const needValue = ["add", "replace", "test"].includes(op.op);
    if (needValue && op.value === undefined) {
      throw ApiError.badRequest(`JSON patch "${op.op}" needs a value`);
    }
    if (
      (op.op === "move" || op.op === "copy") && typeof op.from !== "string"
    ) {
      throw ApiError.badRequest(`JSON patch "${op.op}" needs a "from" path`);
    }
    switch (op.op) {
      case "add":
        doc = addAt(doc, op.path, structuredClone(op.value!), false);
        break;
      case "replace":
        doc = addAt(doc, op.path, structuredClone(op.value!), true);
        break;
      case "remove":
        removeAt(doc, op.path);
        break;
      case "move": {
        const v = removeAt(doc, op.from ?? "");
        doc = addAt(doc, op.path, v, false);
        break;
      }
      case "copy":
        doc = addAt(
          doc,
          op.path,
          structuredClone(getAt(doc, op.from ?? "")),
          false,
        );
        break;
      case "test":
        if (JSON.stringify(getAt(doc, op.path)) !== JSON.stringify(op.value)) {
          throw new ApiError(
            422,
            "Invalid",
            `JSON patch test failed at ${op.path}`,
          );
        }
        break;
      default:
        throw ApiError.badRequest(
          `unknown JSON patch operation ${JSON.stringify(op.op)}`,
        );
    }
  }
  return doc;
}

/** Applies a patch body of the given content type to `target`. */
export function applyPatch(
  contentType: string,
  target: Json,
  body: string,
  keys: MergeKeys,
): Json {
  const type = contentType.split(";")[0].trim().toLowerCase();
  if (![MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH].includes(type)) {
    throw new ApiError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: ${MERGE_PATCH}, ${JSON_PATCH}, ${STRATEGIC_PATCH}`,
    );
  }
  const patch = parseClientJson(body, "the patch") as Json;
  if (type === JSON_PATCH) return jsonPatch(target, patch);
  if (!isObject(patch)) {
    throw ApiError.badRequest("a merge patch must be a JSON object");
  }
  if (type === MERGE_PATCH) return mergePatch(target, patch);
  return strategicMergePatch(target, patch, keys);
}
