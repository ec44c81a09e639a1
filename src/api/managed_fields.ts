// Field ownership for server-side apply, in Kubernetes' FieldsV1 form
// (`f:<field>`, `k:{"<key>":<value>}` for an item of a keyed list,
// `v:<value>` for a member of a set, `.` for the item itself) under
// metadata.managedFields. Only appliers own fields: a manager's next apply
// removes what it owned and no longer sets, and it conflicts with another
// applier that owns a field it sets to a different value (unless forced).
// Plain updates and patches change no ownership (README).

import { ApiError } from "./errors.ts";
import {
  isObject,
  type Json,
  type JsonObject,
  type KubeObject,
} from "./object.ts";
import { type MergeKeys, strategicMergePatch } from "./patch.ts";

export type FieldSet = { [k: string]: FieldSet };

/** Server-managed or identifying fields nobody owns. */
const UNOWNED_ROOT = new Set(["apiVersion", "kind"]);
const UNOWNED_META = new Set([
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "managedFields",
]);

/** The fields `v` sets, for list merge keys `keys` under `path`. */
export function fieldSet(v: Json, keys: MergeKeys, path = ""): FieldSet {
  const out: FieldSet = {};
  if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (path === "" && UNOWNED_ROOT.has(k)) continue;
      if (path === "metadata" && UNOWNED_META.has(k)) continue;
      const sub = path ? `${path}.${k}` : k;
      out[`f:${k}`] = fieldSet(x, keys, sub);
    }
  } else if (Array.isArray(v) && Object.hasOwn(keys, path)) {
    const key = keys[path];
    for (const item of v) {
      if (key === "") {
        out[`v:${JSON.stringify(item)}`] = {};
      } else if (isObject(item) && item[key] !== undefined) {
        out[`k:${JSON.stringify({ [key]: item[key] })}`] = {
          ".": {},
          ...fieldSet(item, keys, `${path}[]`),
        };
      }
    }
  }
  return out;
}

/** Child of `v` named by one FieldsV1 segment; undefined when absent. */
function child(v: Json | undefined, seg: string): Json | undefined {
  if (seg.startsWith("f:")) {
    const k = seg.slice(2);
    return isObject(v) && Object.hasOwn(v, k) ? v[k] : undefined;
  }
  if (seg.startsWith("k:") && Array.isArray(v)) {
    const want = parseSeg(seg);
    return v.find((x) =>
      isObject(x) && isObject(want) &&
      Object.entries(want).every(([k, w]) => x[k] === w)
    );
  }
  if (seg.startsWith("v:") && Array.isArray(v)) {
    const want = parseSeg(seg);
    return v.find((x) => x === want);
  }
  return undefined;
}

function parseSeg(seg: string): Json | undefined {
  try {
    return JSON.parse(seg.slice(2)) as Json;
  } catch {
    return undefined;
  }
}

/** Removes the member `seg` from `parent` (in place). */
function remove(parent: Json | undefined, seg: string): void {
  if (seg.startsWith("f:") && isObject(parent)) {
    delete parent[seg.slice(2)];
  } else if (Array.isArray(parent)) {
    const target = child(parent, seg);
    const i = parent.findIndex((x) => x === target);
    if (target !== undefined && i >= 0) parent.splice(i, 1);
  }
}

function node(set: FieldSet | undefined, path: string[]) {
  let cur: FieldSet | undefined = set;
  for (const seg of path) {
    if (!cur || !Object.hasOwn(cur, seg)) return undefined;
    cur = cur[seg];
  }
  return cur;
}

function has(set: FieldSet | undefined, path: string[]): boolean {
  return node(set, path) !== undefined;
}

/** `path` is a field `set` gives a value (not a container of others). */
function ownsLeaf(set: FieldSet | undefined, path: string[]): boolean {
  const n = node(set, path);
  return n !== undefined && Object.keys(n).every((k) => k === ".");
}

/** Leaf paths of a set (fields with a value, not containers). */
function leaves(set: FieldSet, prefix: string[] = [], out: string[][] = []) {
  for (const [seg, sub] of Object.entries(set)) {
    if (seg === ".") continue;
    const p = [...prefix, seg];
    const kids = Object.keys(sub).filter((k) => k !== ".");
    if (kids.length === 0) out.push(p);
    else leaves(sub, p, out);
  }
  return out;
}

function valueAt(obj: Json, path: string[]): Json | undefined {
  let cur: Json | undefined = obj;
  for (const seg of path) cur = child(cur, seg);
  return cur;
}

function dropPath(set: FieldSet, path: string[]): void {
  let cur = set;
  for (const seg of path.slice(0, -1)) {
    if (!Object.hasOwn(cur, seg)) return;
    cur = cur[seg];
  }
  delete cur[path.at(-1)!];
}

/** ".spec.podCIDRs[...]" for messages. */
function display(path: string[]): string {
  return path.map((s) =>
    s.startsWith("f:") ? `.${s.slice(2)}` : `[${s.slice(2)}]`
  ).join("");
}

/** Removes from `obj` what `old` holds and `now` does not, unless `kept`
 * (other appliers) holds it. */
function prune(
  obj: Json,
  old: FieldSet,
  now: FieldSet,
  kept: FieldSet[],
  path: string[] = [],
): void {
  for (const [seg, sub] of Object.entries(old)) {
    if (seg === ".") continue;
    const p = [...path, seg];
    if (Object.hasOwn(now, seg)) {
      prune(obj, sub, now[seg], kept, p);
    } else if (!kept.some((k) => has(k, p))) {
      remove(valueAt(obj, path), seg);
    } else if (!kept.some((k) => ownsLeaf(k, p))) {
      // Others own parts of it: drop only this manager's other parts.
      prune(obj, sub, {}, kept, p);
    }
  }
}

interface Entry {
  manager: string;
  operation: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: FieldSet;
}

function entriesOf(obj: KubeObject): Entry[] {
  const list = obj.metadata.managedFields;
  if (!Array.isArray(list)) return [];
  return list.filter((e): e is JsonObject =>
    isObject(e) && typeof e.manager === "string" &&
    typeof e.operation === "string"
  ).map((e) => ({
    ...e,
    fieldsV1: isObject(e.fieldsV1) ? e.fieldsV1 as FieldSet : {},
  })) as Entry[];
}

export interface ApplyRequest {
  /** null when the object does not exist yet. */
  current: KubeObject | null;
  applied: KubeObject;
  manager: string;
  force: boolean;
  keys: MergeKeys;
  apiVersion: string;
  now: string;
}

/**
 * The object after `manager` applies `applied` to `current`, with its
 * managedFields updated; 409 Conflict naming the other appliers' fields
 * it would change (unless `force`, which takes them over).
 */
export function applyWithOwnership(r: ApplyRequest): KubeObject {
  const set = fieldSet(r.applied as unknown as Json, r.keys);
  const entries = r.current ? entriesOf(r.current) : [];
  const others = entries.filter((e) =>
    e.operation === "Apply" && e.manager !== r.manager
  );
  const conflicts: { manager: string; path: string[] }[] = [];
  for (const o of others) {
    for (const p of leaves(set)) {
      if (!ownsLeaf(o.fieldsV1, p)) continue;
      const before = r.current
        ? valueAt(r.current as unknown as Json, p)
        : undefined;
      const after = valueAt(r.applied as unknown as Json, p);
      if (JSON.stringify(before) === JSON.stringify(after)) continue;
      if (r.force) dropPath(o.fieldsV1!, p);
      else conflicts.push({ manager: o.manager, path: p });
    }
  }
  if (conflicts.length) {
    const causes = conflicts.slice(0, 20).map((c) => ({
      reason: "FieldManagerConflict",
      message: `conflict with "${c.manager}"`,
      field: display(c.path),
    }));
    throw new ApiError(
      409,
      "Conflict",
      `Apply failed with ${conflicts.length} conflict${
        conflicts.length > 1 ? "s" : ""
      }: ${
        causes.map((c) => `${c.message}: ${c.field}`).join(", ")
      }; apply with force (kubectl --force-conflicts) to take them over`,
      { causes },
    );
  }
  const base: KubeObject = r.current
    ? structuredClone(r.current)
    : { metadata: {} };
  delete base.metadata.managedFields;
  const merged = strategicMergePatch(
    base as unknown as Json,
    r.applied as unknown as Json,
    r.keys,
  ) as unknown as KubeObject;
  const mine = entries.find((e) =>
    e.operation === "Apply" && e.manager === r.manager
  );
  if (mine) {
    prune(
      merged as unknown as Json,
      mine.fieldsV1 ?? {},
      set,
      others.map((o) => o.fieldsV1 ?? {}),
    );
  }
  const kept = entries.filter((e) =>
    e !== mine && (e.operation !== "Apply" ||
      Object.keys(e.fieldsV1 ?? {}).length > 0)
  );
  merged.metadata.managedFields = [
    ...kept,
    {
      manager: r.manager,
      operation: "Apply",
      apiVersion: r.apiVersion,
      time: r.now,
      fieldsType: "FieldsV1",
      fieldsV1: set,
    },
  ] as unknown as Json;
  return merged;
}
