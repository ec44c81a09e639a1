// Serving the OpenAPI documents: /openapi/v2 (JSON; a client that accepts
// only the protobuf form gets 406, as kube-apiserver allows), /openapi/v3
// (the index of group/versions) and /openapi/v3/<gv>. Each is encoded once
// with a content hash: ETag/If-None-Match answer 304, and a v3 URL whose
// ?hash= matches is cached as immutable, like kube-apiserver's.

import type { Context, Hono } from "hono";
import { encodeHex } from "../../util/encoding.ts";
import { ApiError } from "../errors.ts";
import { openApiV2, openApiV3, openApiV3Paths } from "./documents.ts";

interface Encoded {
  body: string;
  hash: string;
}

async function encode(doc: unknown): Promise<Encoded> {
  const body = JSON.stringify(doc);
  const digest = await crypto.subtle.digest(
    "SHA-512",
    new TextEncoder().encode(body),
  );
  return { body, hash: encodeHex(new Uint8Array(digest)).toUpperCase() };
}

function wantsJson(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(",").some((part) => {
    const type = part.split(";")[0].trim().toLowerCase();
    return type === "application/json" || type === "*/*" ||
      type === "application/*";
  });
}

function send(c: Context, doc: Encoded, immutable: boolean): Response {
  const etag = `"${doc.hash}"`;
  const headers: Record<string, string> = {
    etag,
    "content-type": "application/json",
    "cache-control": immutable
      ? "public, immutable, max-age=31536000"
      : "no-cache, private",
    vary: "Accept",
  };
  const inm = c.req.header("if-none-match");
  if (inm && inm.split(",").some((t) => t.trim() === etag)) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(doc.body, { status: 200, headers });
}

/** Adds the routes; `guard` authenticates (throws 401). */
export function openApiRoutes(
  app: Hono,
  guard: (c: Context) => Promise<void>,
): void {
  let v2: Promise<Encoded> | undefined;
  const v3 = new Map<string, Promise<Encoded>>();
  const v3Doc = (gv: string) => {
    let p = v3.get(gv);
    if (!p) v3.set(gv, p = encode(openApiV3(gv)));
    return p;
  };
  let index: Promise<Encoded> | undefined;

  app.get("/openapi/v2", async (c) => {
    await guard(c);
    if (!wantsJson(c.req.header("accept"))) {
      throw new ApiError(
        406,
        "NotAcceptable",
        "only application/json is served for /openapi/v2 (no protobuf)",
      );
    }
    return send(c, await (v2 ??= encode(openApiV2())), false);
  });
  app.get("/openapi/v3", async (c) => {
    await guard(c);
    index ??= (async () => {
      const paths: Record<string, { serverRelativeURL: string }> = {};
      for (const gv of openApiV3Paths()) {
        const { hash } = await v3Doc(gv);
        paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash}` };
      }
      return encode({ paths });
    })();
    return send(c, await index, false);
  });
  app.get("/openapi/v3/*", async (c) => {
    await guard(c);
    const gv = c.req.path.slice("/openapi/v3/".length);
    if (!openApiV3Paths().includes(gv)) {
      throw new ApiError(404, "NotFound", `no OpenAPI v3 document for ${gv}`);
    }
    const doc = await v3Doc(gv);
    return send(c, doc, c.req.query("hash") === doc.hash);
  });
}
