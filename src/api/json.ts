// JSON from clients (request bodies, patch documents), parsed with a bound
// on nesting: the API walks objects recursively (clone, patch, validate), so
// a 20 KB body nested 10,000 deep must be refused before anything walks it.

import { jsonDepth } from "../util/json_depth.ts";
import { ApiError } from "./errors.ts";

/** Deepest nesting of arrays and objects accepted in a request body. */
export const MAX_JSON_DEPTH = 100;

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
