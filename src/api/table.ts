// Server-side printing: the meta.k8s.io/v1 Table kubectl asks for with
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, giving
// `kubectl get nodes` its NAME STATUS ROLES AGE VERSION columns (each
// kind's columns are its row's printer, see kinds/).

import type { Json, KubeObject } from "./object.ts";
import { isObject } from "./object.ts";
import type { ResourceDef } from "./resources.ts";

export interface Column {
  name: string;
  type: "string" | "integer";
  format: string;
  description: string;
  priority: number;
}

export interface Table {
  kind: "Table";
  apiVersion: "meta.k8s.io/v1";
  metadata: { resourceVersion?: string };
  columnDefinitions: Column[];
  rows: { cells: Json[]; object: Json }[];
}

/** A kind's `kubectl get` columns and the cells of one object's row. */
export interface Printer {
  columns: Column[];
  cells(obj: KubeObject, now: number): Json[];
}

/** NAME and AGE, for kinds without their own columns. */
export const NAME_AGE: Printer = {
  columns: [
    col("Name", "Name must be unique within a namespace.", 0, "string", "name"),
    col("Age", "CreationTimestamp of the object."),
  ],
  cells: (o, now) => [o.metadata.name ?? "", age(o, now)],
};

/** True when the Accept header asks for a Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(",").some((part) =>
    /;\s*as=Table/.test(part) && /;\s*g=meta\.k8s\.io/.test(part) &&
    /;\s*v=v1(\s*;|$)/.test(part + ";")
  );
}

export function col(
  name: string,
  description: string,
  priority = 0,
  type: Column["type"] = "string",
  format = "",
): Column {
  return { name, type, format, description, priority };
}

/** Kubernetes' HumanDuration ("5m", "3h12m", "4d"). */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) {
    return h % 24 === 0 ? `${h / 24 | 0}d` : `${h / 24 | 0}d${h % 24}h`;
  }
  const d = Math.floor(h / 24);
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (y < 8) return `${y}y${d % 365}d`;
  return `${y}y`;
}

export function age(obj: KubeObject, now: number): string {
  const t = Date.parse(obj.metadata.creationTimestamp ?? "");
  return Number.isNaN(t) ? "<unknown>" : humanDuration(now - t);
}

export function get(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const p of path.split(".")) cur = isObject(cur) ? cur[p] : undefined;
  return cur;
}

export function list(obj: unknown, path: string): Json[] {
  const v = get(obj, path);
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown, dflt = "<none>"): string {
  return typeof v === "string" && v !== "" ? v : dflt;
}

function rowObject(obj: KubeObject, include: string): Json {
  if (include === "None") return null;
  if (include === "Object") return obj as unknown as Json;
  return {
    kind: "PartialObjectMetadata",
    apiVersion: "meta.k8s.io/v1",
    metadata: obj.metadata as unknown as Json,
  };
}

/** `includeObject` is the request's query parameter (None|Metadata|Object). */
export function toTable(
  def: ResourceDef,
  items: KubeObject[],
  resourceVersion: string | undefined,
  includeObject = "Metadata",
  now = Date.now(),
): Table {
  const { columns, cells } = def.printer;
  const table: Table = {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: {},
    columnDefinitions: columns,
    rows: items.map((o) => ({
      cells: cells(o, now),
      object: rowObject(o, includeObject),
    })),
  };
  if (resourceVersion !== undefined) {
    table.metadata.resourceVersion = resourceVersion;
  }
  return table;
}
