// The API as a hono app built by a factory, separate from any server, so
// tests drive it with `app.request()`. Every error leaves through one
// handler as a Kubernetes Status.

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Context } from "hono";
import type { Store } from "../store/mod.ts";
import type { Identity } from "./auth/mod.ts";
import { authorize, requireIdentity } from "./authz.ts";
import {
  apiGroupList,
  apiResourceList,
  apiVersions,
  versionInfo,
} from "./discovery.ts";
import { ApiError, toApiError } from "./errors.ts";
import { ResourceHandlers } from "./handlers.ts";
import type { NodeIpam } from "./ipam.ts";
import { checkPathSegment } from "./object.ts";
import { Registry } from "./registry.ts";
import { NODES, PODS } from "./resources.ts";

export interface ApiDeps {
  store: Store;
  /** Bearer token (etc.) -> identity; null when absent or invalid. */
  authenticate: (req: Request) => Promise<Identity | null>;
  /** Registered first (join routes, the tunnel's websocket endpoint). */
  extraRoutes?: ((app: Hono) => void)[];
  /** Serves /api/v1/nodes/<name>/proxy/<path> (through the tunnel). */
  nodeProxy?: (node: string, path: string, req: Request) => Promise<Response>;
  /** Node pod CIDR allocation; without it nodes keep what they send. */
  ipam?: NodeIpam;
  /** Aborting ends every watch stream (server shutdown). */
  signal?: AbortSignal;
  /** Interval of BOOKMARK events for allowWatchBookmarks (default 60 s). */
  bookmarkIntervalMs?: number;
  /** Extra readiness check for /readyz (e.g. IPAM reconciled). */
  ready?: () => boolean;
  log?: (msg: string) => void;
}

/** As kube-apiserver: 3 MiB per request body. */
const MAX_BODY = 3 * 1024 * 1024;

function status(c: Context, e: ApiError): Response {
  return c.json(e.toStatus(), e.code as 400);
}

const notFoundError = () =>
  new ApiError(
    404,
    "NotFound",
    "the server could not find the requested resource",
  );

/** Builds the API app; the registry's store writes run node IPAM hooks. */
export function createApp(deps: ApiDeps): Hono {
  const app = new Hono();
  const log = deps.log ?? (() => {});
  const registry = new Registry(deps.store, deps.ipam ?? {});
  app.onError((err, c) => {
    const e = toApiError(err);
    if (e.code >= 500) log(`${c.req.method} ${c.req.path}: ${e.message}`);
    return status(c, e);
  });
  app.notFound((c) => status(c, notFoundError()));
  for (const add of deps.extraRoutes ?? []) add(app);

  app.use(
    "/api/*",
    bodyLimit({
      maxSize: MAX_BODY,
      onError: () => {
        throw new ApiError(
          413,
          "RequestEntityTooLarge",
          `the request body is larger than ${MAX_BODY} bytes`,
        );
      },
    }),
  );

  app.get("/version", (c) => c.json(versionInfo()));
  const health = async (c: Context) => {
    await deps.store.revision();
    return c.text("ok");
  };
  app.get("/healthz", health);
  app.get("/livez", health);
  app.get("/readyz", async (c) => {
    await deps.store.revision();
    if (deps.ready && !deps.ready()) {
      throw new ApiError(503, "ServiceUnavailable", "not ready");
    }
    return c.text("ok");
  });

  const authed = (body: (c: Context) => unknown) => async (c: Context) => {
    requireIdentity(await deps.authenticate(c.req.raw));
    return c.json(body(c));
  };
  app.get("/api", authed((c) => apiVersions(new URL(c.req.url).host)));
  app.get("/api/v1", authed(() => apiResourceList()));
  app.get("/apis", authed(() => apiGroupList()));

  const hd = {
    registry,
    authenticate: deps.authenticate,
    bookmarkIntervalMs: deps.bookmarkIntervalMs ?? 60_000,
    signal: deps.signal,
  };
  const nodes = new ResourceHandlers(NODES, hd);
  const pods = new ResourceHandlers(PODS, hd);
  const notAllowed = () => {
    throw new ApiError(
      405,
      "MethodNotAllowed",
      "the server does not allow this method on the requested resource",
    );
  };

  // One object and its status subresource (no DELETE on /status).
  const objectRoutes = (h: ResourceHandlers, item: string) => {
    for (const p of [item, `${item}/status`]) {
      app.get(p, h.get);
      app.put(p, h.update);
      app.patch(p, h.patch);
      if (p === item) app.delete(p, h.delete);
      app.all(p, notAllowed);
    }
  };

  nodeProxy(app, deps, registry);
  app.get("/api/v1/nodes", nodes.list);
  app.post("/api/v1/nodes", nodes.create);
  app.all("/api/v1/nodes", notAllowed);
  objectRoutes(nodes, "/api/v1/nodes/:name");

  app.get("/api/v1/pods", pods.list);
  app.all("/api/v1/pods", notAllowed);
  app.get("/api/v1/namespaces/:ns/pods", pods.list);
  app.post("/api/v1/namespaces/:ns/pods", pods.create);
  app.all("/api/v1/namespaces/:ns/pods", notAllowed);
  objectRoutes(pods, "/api/v1/namespaces/:ns/pods/:name");
  return app;
}

function nodeProxy(app: Hono, deps: ApiDeps, registry: Registry): void {
  const handler = async (c: Context) => {
    const name = checkPathSegment("name", c.req.param("name") ?? "");
    const id = await deps.authenticate(c.req.raw);
    authorize(id, {
      verb: c.req.method === "GET" ? "get" : "create",
      resource: "nodes",
      subresource: "proxy",
      name,
    });
    await registry.get(NODES, undefined, name);
    if (!deps.nodeProxy) {
      throw new ApiError(
        503,
        "ServiceUnavailable",
        "the node proxy is not available on this server",
      );
    }
    const url = new URL(c.req.url);
    const prefix = `/api/v1/nodes/${name}/proxy`;
    const rest = url.pathname.slice(prefix.length) || "/";
    return await deps.nodeProxy(name, rest + url.search, c.req.raw);
  };
  app.all("/api/v1/nodes/:name/proxy", handler);
  app.all("/api/v1/nodes/:name/proxy/*", handler);
}
