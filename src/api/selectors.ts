// Label and field selectors as kubectl sends them in `labelSelector` and
// `fieldSelector`: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`,
// `!a`, comma-separated (all must hold).

import { ApiError } from "./errors.ts";

export type Requirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists" };

export type Selector = (get: (key: string) => string | undefined) => boolean;

/** A selector that does not parse. */
export class SelectorError extends Error {
  override name = "SelectorError";
}

/** Splits on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (depth !== 0) throw new SelectorError("unbalanced parentheses");
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== "");
}

const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function parseTerm(term: string): Requirement {
  let m = term.match(/^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/);
  if (m) {
    const values = m[3].split(",").map((v) => v.trim());
    if (!KEY.test(m[1]) || !values.every((v) => VALUE.test(v))) {
      throw new SelectorError(`invalid term ${JSON.stringify(term)}`);
    }
    return { key: m[1], op: m[2] as "in" | "notin", values };
  }
  m = term.match(/^([^=!\s]+)\s*(==|!=|=)\s*(\S*)$/);
  if (m) {
    if (!KEY.test(m[1]) || !VALUE.test(m[3])) {
      throw new SelectorError(`invalid term ${JSON.stringify(term)}`);
    }
    return { key: m[1], op: m[2] === "!=" ? "!=" : "=", value: m[3] };
  }
  m = term.match(/^(!?)\s*([^=!\s()]+)$/);
  if (m && KEY.test(m[2])) {
    return { key: m[2], op: m[1] ? "!exists" : "exists" };
  }
  throw new SelectorError(`invalid term ${JSON.stringify(term)}`);
}

export function parseRequirements(text: string): Requirement[] {
  return splitTerms(text).map(parseTerm);
}

function matches(r: Requirement, v: string | undefined): boolean {
  switch (r.op) {
    case "=":
      return v === r.value;
    case "!=":
      return v !== r.value;
    case "in":
      return v !== undefined && r.values.includes(v);
    case "notin":
      return v === undefined || !r.values.includes(v);
    case "exists":
      return v !== undefined;
    case "!exists":
      return v === undefined;
  }
}

/** A label selector; 400 BadRequest when it does not parse. */
export function labelSelector(text: string | undefined): Selector {
  if (!text) return () => true;
  let reqs: Requirement[];
  try {
    reqs = parseRequirements(text);
  } catch (e) {
    throw new ApiError(
      400,
      "BadRequest",
      `unable to parse requirement in labelSelector ${JSON.stringify(text)}: ${
        (e as Error).message
      }`,
      undefined,
      { cause: e },
    );
  }
  return (get) => reqs.every((r) => matches(r, get(r.key)));
}

/**
 * A field selector over the fields a resource supports (`=`, `==`, `!=`
 * only, as Kubernetes allows); 400 for anything else.
 */
export function fieldSelector(
  text: string | undefined,
  supported: readonly string[],
): Selector {
  if (!text) return () => true;
  let reqs: Requirement[];
  try {
    reqs = splitTerms(text).map((t) => {
      const m = t.match(/^([^=!\s]+)\s*(==|!=|=)\s*(.*)$/);
      if (!m) {
        throw new SelectorError(
          `invalid field selector term ${JSON.stringify(t)}`,
        );
      }
      return { key: m[1], op: m[2] === "!=" ? "!=" : "=", value: m[3] };
    });
  } catch (e) {
    throw new ApiError(400, "BadRequest", (e as Error).message, undefined, {
      cause: e,
    });
  }
  for (const r of reqs) {
    if (!supported.includes(r.key)) {
      throw ApiError.badRequest(
        `field label not supported: ${r.key} (supported: ${
          supported.join(", ")
        })`,
      );
    }
  }
  return (get) => reqs.every((r) => matches(r, get(r.key)));
}
