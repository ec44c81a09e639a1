// The API's metrics: a middleware counting and timing every request by
// verb/group/resource/subresource/code (label values only from the resource
// table, so a client cannot invent series), and the /metrics routes - the
// server's own, and an agent's through the node proxy - for the admin or the
// metrics credential (system:monitoring).

import type { Context, Hono, Next } from "hono";
import {
  apiOpenWatches,
  apiRequestDuration,
  apiRequests,
  metricsResponse,
} from "../metrics/mod.ts";
import { type Identity, isAdmin, isMonitoring } from "./auth/mod.ts";
import { requireIdentity } from "./authz.ts";
import { ApiError } from "./errors.ts";
import { checkPathSegment } from "./object.ts";
import { RESOURCES } from "./resources.ts";

export interface RequestAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
}

const SUBRESOURCES = new Set(["status", "proxy"]);
const served = new Set(RESOURCES.map((d) => `${d.group}/${d.plural}`));

function isWatch(url: URL): boolean {
  const w = url.searchParams.get("watch");
  return w === "true" || w === "1";
}

/** Kubernetes' request verb and resource of a request (non-resource URLs
 * such as /version and /metrics have resource ""). */
export function requestAttributes(req: Request): RequestAttributes {
  const url = new URL(req.url);
  const seg = url.pathname.split("/").filter((s) => s !== "");
  let group = "";
  let rest: string[] = [];
  if (seg[0] === "api" && seg.length > 2) rest = seg.slice(2);
  else if (seg[0] === "apis" && seg.length > 3) {
    group = seg[1];
    rest = seg.slice(3);
  }
  if (rest[0] === "namespaces" && rest.length > 2) rest = rest.slice(2);
  const resource = served.has(`${group}/${rest[0]}`) ? rest[0] : "";
  if (!resource) group = "";
  const sub = rest[2] && SUBRESOURCES.has(rest[2]) ? rest[2] : "";
  const named = rest.length > 1;
  const m = req.method.toUpperCase();
  let verb: string;
  if (sub === "proxy") verb = "CONNECT";
  else if (m === "GET" || m === "HEAD") {
    verb = isWatch(url) ? "WATCH" : resource && !named ? "LIST" : "GET";
  } else if (m === "PATCH") {
    const ct = req.headers.get("content-type") ?? "";
    verb = ct.startsWith("application/apply-patch") ? "APPLY" : "PATCH";
  } else if (["POST", "PUT", "DELETE"].includes(m)) verb = m;
  else verb = "OTHER";
  return { verb, group, resource, subresource: sub };
}

/** Counts and times every request (watches: counted, not timed). */
export async function requestMetrics(c: Context, next: Next): Promise<void> {
  const a = requestAttributes(c.req.raw);
  const done = apiRequestDuration.startTimer();
  try {
    await next();
  } finally {
    const code = String(c.res?.status ?? 500);
    apiRequests.inc({ ...a, code });
    if (a.verb !== "WATCH" && a.verb !== "CONNECT") done(a);
  }
}

/** Marks a watch stream open; call the returned function once it ends. */
export function watchOpened(group: string, resource: string): () => void {
  const labels = { group, resource };
  apiOpenWatches.inc(labels);
  let open = true;
  return () => {
    if (open) apiOpenWatches.dec(labels);
    open = false;
  };
}

function requireMetricsReader(id: Identity | null, what: string): void {
  const who = requireIdentity(id);
  if (isAdmin(who) || isMonitoring(who)) return;
  throw new ApiError(
    403,
    "Forbidden",
    `forbidden: User "${who.user}" cannot get path "${what}"`,
  );
}

export interface MetricsRouteDeps {
  authenticate: (req: Request) => Promise<Identity | null>;
  nodeProxy?: (node: string, path: string, req: Request) => Promise<Response>;
  /** Throws the API's 404 when the node does not exist. */
  nodeExists: (name: string) => Promise<void>;
}

/**
 * GET /metrics, and GET /api/v1/nodes/<name>/proxy/metrics (the one node
 * proxy path the metrics credential may use). Register before the node
 * proxy's catch-all routes.
 */
export function metricsRoutes(app: Hono, deps: MetricsRouteDeps): void {
  app.get("/metrics", async (c) => {
    requireMetricsReader(await deps.authenticate(c.req.raw), "/metrics");
    return await metricsResponse(c.req.raw);
  });
  app.get("/api/v1/nodes/:name/proxy/metrics", async (c) => {
    const name = checkPathSegment("name", c.req.param("name") ?? "");
    const path = `/api/v1/nodes/${name}/proxy/metrics`;
    requireMetricsReader(await deps.authenticate(c.req.raw), path);
    await deps.nodeExists(name);
    if (!deps.nodeProxy) {
      throw new ApiError(
        503,
        "ServiceUnavailable",
        "the node proxy is not available on this server",
      );
    }
    // The caller's credential stays here: the node endpoint is reached over
    // the node's tunnel and needs none.
    const req = new Request(c.req.raw.url, { method: "GET" });
    return await deps.nodeProxy(name, "/metrics", req);
  });
}
