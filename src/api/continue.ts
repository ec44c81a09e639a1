// The `continue` token of a paged list: the revision the first page was
// read at and the last key returned (relative to the list's prefix), as
// base64 JSON like kube-apiserver's. A client can forge one; it only ever
// selects keys inside the list's own prefix, at a revision the store still
// holds (410 Expired otherwise).

import { ApiError } from "./errors.ts";
import { isObject } from "./object.ts";

export interface ContinueToken {
  rv: number;
  /** The last key returned, without the list prefix. */
  start: string;
}

const VERSION = "meta.k8s.io/v1";
const MAX_TOKEN = 4096;

function invalid(why: string): ApiError {
  return ApiError.badRequest(`invalid continue token: ${why}`);
}

export function encodeContinue(t: ContinueToken): string {
  const json = JSON.stringify({ v: VERSION, rv: t.rv, start: t.start });
  const bytes = new TextEncoder().encode(json);
  return btoa(String.fromCharCode(...bytes));
}

export function decodeContinue(token: string): ContinueToken {
  if (token.length > MAX_TOKEN) throw invalid("too long");
  let v: unknown;
  try {
    const bin = atob(token);
    const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ApiError(
      400,
      "BadRequest",
      "invalid continue token: not base64 JSON",
      undefined,
      { cause: e },
    );
  }
  if (!isObject(v) || v.v !== VERSION) throw invalid("unknown version");
  if (typeof v.rv !== "number" || !Number.isSafeInteger(v.rv) || v.rv < 1) {
    throw invalid("bad resource version");
  }
  if (typeof v.start !== "string" || v.start === "") {
    throw invalid("bad start key");
  }
  return { rv: v.rv, start: v.start };
}

/** 410 Expired: the token's revision was compacted. */
export function expired(): ApiError {
  return new ApiError(
    410,
    "Expired",
    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
  );
}
