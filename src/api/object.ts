// Kubernetes object shapes as the API handles them (plain JSON with typed
// metadata) and the server-managed metadata rules: name validation, uid,
// creationTimestamp, resourceVersion, generation.

import { ApiError } from "./errors.ts";
import { parseClientJson } from "./json.ts";

export type Json =
  | null
  | boolean
  | number
  | string
  | Json[]
  | { [k: string]: Json };

export type JsonObject = { [k: string]: Json };

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: Json | undefined;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: JsonObject;
  status?: JsonObject;
  [k: string]: Json | ObjectMeta | undefined;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const SUBDOMAIN =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** RFC 1123 label (namespaces): problems, empty when valid. */
function labelProblems(name: string): string[] {
  const out: string[] = [];
  if (name.length > 63) out.push("must be no more than 63 characters");
  if (!LABEL.test(name)) {
    out.push(
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
    );
  }
  return out;
}

/**
 * Checks a namespace (an RFC 1123 label) or name (an RFC 1123 subdomain)
 * taken from the request path; 400 BadRequest when it is not one.
 */
export function checkPathSegment(
  what: "namespace" | "name",
  value: string,
): string {
  const p = what === "namespace"
    ? labelProblems(value)
    : subdomainProblems(value);
  if (p.length) {
    throw ApiError.badRequest(
      `invalid ${what} ${JSON.stringify(value)} in the request path: ${
        p.join("; ")
      }`,
    );
  }
  return value;
}

/** RFC 1123 subdomain (node and pod names): problems, empty when valid. */
function subdomainProblems(name: string): string[] {
  const out: string[] = [];
  if (name.length > 253) out.push("must be no more than 253 characters");
  if (!SUBDOMAIN.test(name)) {
    out.push(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
    );
  }
  return out;
}

function qualifiedNameProblems(key: string): string[] {
  const slash = key.indexOf("/");
  const [prefix, name] = slash < 0
    ? ["", key]
    : [key.slice(0, slash), key.slice(slash + 1)];
  const out: string[] = [];
  if (slash >= 0 && (prefix === "" || subdomainProblems(prefix).length > 0)) {
    out.push(`prefix part of ${JSON.stringify(key)} must be a DNS subdomain`);
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED.test(name)) {
    out.push(
      `name part of ${
        JSON.stringify(key)
      } must be 1-63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`,
    );
  }
  return out;
}

function labelValueProblems(v: unknown): string[] {
  if (typeof v !== "string") return ["label values must be strings"];
  if (v === "" || (v.length <= 63 && QUALIFIED.test(v))) return [];
  return [
    `label value ${
      JSON.stringify(v)
    } must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric`,
  ];
}

/** Checks metadata a client may send; throws 422 Invalid. */
export function validateMeta(kind: string, obj: KubeObject): void {
  const m = obj.metadata;
  if (m.name !== undefined && typeof m.name !== "string") {
    throw ApiError.invalid(kind, "", "metadata.name", "must be a string");
  }
  const name = m.name ?? "";
  const bad = (field: string, msg: string) =>
    ApiError.invalid(kind, name, field, msg);
  if (!name) {
    throw bad(
      "metadata.name",
      "Required value: name or generateName is required",
    );
  }
  const np = subdomainProblems(name);
  if (np.length) {
    throw bad(
      "metadata.name",
      `Invalid value: ${JSON.stringify(name)}: ${np.join("; ")}`,
    );
  }
  for (
    const [field, map] of [["labels", m.labels], [
      "annotations",
      m.annotations,
    ]] as const
  ) {
    if (map === undefined || map === null) continue;
    if (!isObject(map)) throw bad(`metadata.${field}`, "must be an object");
    for (const [k, v] of Object.entries(map)) {
      const kp = qualifiedNameProblems(k);
      if (kp.length) {
        throw bad(
          `metadata.${field}`,
          `Invalid value: ${JSON.stringify(k)}: ${kp.join("; ")}`,
        );
      }
      if (field === "labels") {
        const vp = labelValueProblems(v);
        if (vp.length) throw bad(`metadata.labels`, vp.join("; "));
      } else if (typeof v !== "string") {
        throw bad(
          `metadata.annotations`,
          `value of ${JSON.stringify(k)} must be a string`,
        );
      }
    }
  }
}

/** A timestamp as Kubernetes writes it: RFC 3339, seconds precision. */
export function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/** Random suffix for generateName (5 chars as Kubernetes uses). */
export function nameSuffix(): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join("");
}

/** Parses a request body as one JSON object; 400 on anything else. */
export function parseBody(text: string): JsonObject {
  const v = parseClientJson(text, "the request body");
  if (!isObject(v)) {
    throw ApiError.badRequest("the request body must be a JSON object");
  }
  return v;
}

/** Checks the body is shaped like an object of the resource's kind. */
export function asKubeObject(
  kind: string,
  body: JsonObject,
  apiVersion = "v1",
): KubeObject {
  if (body.kind !== undefined && body.kind !== kind) {
    throw ApiError.badRequest(
      `the body is a ${JSON.stringify(body.kind)}, expected ${kind}`,
    );
  }
  if (body.apiVersion !== undefined && body.apiVersion !== apiVersion) {
    throw ApiError.badRequest(
      `apiVersion ${
        JSON.stringify(body.apiVersion)
      } is not served here; use ${apiVersion}`,
    );
  }
  const meta = body.metadata ?? {};
  if (!isObject(meta)) throw ApiError.badRequest("metadata must be an object");
  for (const f of ["spec", "status"] as const) {
    if (body[f] !== undefined && body[f] !== null && !isObject(body[f])) {
      throw ApiError.badRequest(`${f} must be an object`);
    }
  }
  const obj = structuredClone(body) as KubeObject;
  obj.metadata = structuredClone(meta) as ObjectMeta;
  if (obj.spec === null) delete obj.spec;
  if (obj.status === null) delete obj.status;
  return obj;
}
