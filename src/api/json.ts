// JSON from clients (request bodies, patch documents), parsed with a bound
// on nesting: the API walks objects recursively (clone, patch, validate), so
// a 20 KB body nested 10,000 deep must be refused before anything walks it.

import { ApiError } from "./errors.ts";

/** Deepest nesting of arrays and objects accepted in a request body. */
export const MAX_JSON_DEPTH = 100;

/** The deepest nesting of `text`, scanning no further than `limit` + 1. */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return max;
}

/** Parses client JSON (`what` names it in errors); 400 when it is not valid
 * JSON or nests deeper than MAX_JSON_DEPTH. */
export function parseClientJson(text: string, what: string): unknown {
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw ApiError.badRequest(
      `${what} nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(
      400,
      "BadRequest",
      `${what} is not valid JSON: ${(e as Error).message}`,
      undefined,
      { cause: e },
    );
  }
}
