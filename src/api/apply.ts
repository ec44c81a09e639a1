// The body of a server-side apply (application/apply-patch+yaml): one YAML
// (or JSON) object. YAML aliases can make a small body expand into a huge
// tree, so the parsed value is walked with a bound on nodes and depth
// before anything else touches it.

import { parse as parseYaml } from "@std/yaml";
import { ApiError } from "./errors.ts";
import { MAX_JSON_DEPTH } from "./json.ts";
import { isObject, type JsonObject } from "./object.ts";

/** Most values (objects, lists, scalars, counting repeats) in one apply. */
const MAX_NODES = 100_000;

function bounded(v: unknown): void {
  let nodes = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, depth] = stack.pop()!;
    if (++nodes > MAX_NODES || depth > MAX_JSON_DEPTH) {
      throw ApiError.badRequest(
        `the applied configuration is larger than ${MAX_NODES} values or nests deeper than ${MAX_JSON_DEPTH}`,
      );
    }
    if (Array.isArray(x)) { for (const y of x) stack.push([y, depth + 1]); }
    else if (typeof x === "object" && x !== null) {
      for (const y of Object.values(x)) stack.push([y, depth + 1]);
    } else if (
      x !== null && !["string", "number", "boolean"].includes(typeof x)
    ) {
      throw ApiError.badRequest(
        "the applied configuration holds a value JSON cannot carry (dates, binary): quote it",
      );
    }
  }
}

export function parseApply(text: string): JsonObject {
  let v: unknown;
  try {
    v = parseYaml(text);
  } catch (e) {
    throw new ApiError(
      400,
      "BadRequest",
      `the applied configuration is not valid YAML: ${(e as Error).message}`,
      undefined,
      { cause: e },
    );
  }
  bounded(v);
  if (!isObject(v)) {
    throw ApiError.badRequest("the applied configuration must be an object");
  }
  // A plain JSON copy: no shared (aliased) subtrees, no prototypes.
  return JSON.parse(JSON.stringify(v)) as JsonObject;
}
