// The API as a hono app built by a factory, separate from any server, so
// tests drive it with `app.request()`. Every error leaves through one
// handler as a Kubernetes Status.

import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Context } from "hono";
import type { EventRecorder } from "../kube/mod.ts";
import type { Store } from "../store/mod.ts";
import type { Identity } from "./auth/mod.ts";
import { authorize, requireIdentity } from "./authz.ts";
import {
  apiGroupList,
  apiGroups,
  apiResourceList,
  apiVersions,
  versionInfo,
} from "./discovery.ts";
import { ApiError, toApiError } from "./errors.ts";
import { ResourceHandlers } from "./handlers.ts";
import type { NodeIpam } from "./ipam.ts";
import { SYSTEM_NAMESPACES } from "./kinds/namespace.ts";
import { ipamWithEvents } from "./ipam_events.ts";
import { metricsRoutes, requestMetrics } from "./metrics.ts";
import { recordNodeEvents } from "./node_events.ts";
import { checkPathSegment } from "./object.ts";
import { openApiRoutes } from "./openapi/mod.ts";
import { Registry, type RegistryHooks } from "./registry.ts";
import {
  basePath,
  NAMESPACES,
  NODES,
  type ResourceDef,
  RESOURCES,
} from "./resources.ts";

export interface ApiDeps {
  store: Store;
  /** Bearer token (etc.) -> identity; null when absent or invalid. */
  authenticate: (req: Request) => Promise<Identity | null>;
  /** Registered first (join routes, the tunnel's websocket endpoint). */
  extraRoutes?: ((app: Hono) => void)[];
  /** Serves /api/v1/nodes/<name>/proxy/<path> (through the tunnel). */
  nodeProxy?: (node: string, path: string, req: Request) => Promise<Response>;
  /** Records the server's own events (pod CIDR refusals). */
  events?: EventRecorder;
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
  const ipam = deps.ipam;
  const hooks: RegistryHooks = ipam
    ? {
      beforeWrite: ipamWithEvents(ipam, deps.events),
      beforeDelete: (d, o) => ipam.beforeDelete(d, o),
    }
    : {};
  const registry = new Registry(deps.store, hooks);
  hooks.afterWrite = recordNodeEvents(() => registry, log);
  const seeded = seedNamespaces(registry);
  app.onError((err, c) => {
    const e = toApiError(err);
    if (e.code >= 500) log(`${c.req.method} ${c.req.path}: ${e.message}`);
    return status(c, e);
  });
  app.notFound((c) => status(c, notFoundError()));
  app.use("*", requestMetrics);
  for (const add of deps.extraRoutes ?? []) add(app);

  const limit = bodyLimit({
    maxSize: MAX_BODY,
    onError: () => {
      throw new ApiError(
        413,
        "RequestEntityTooLarge",
        `the request body is larger than ${MAX_BODY} bytes`,
      );
    },
  });
  const ready = async (_c: Context, next: () => Promise<void>) => {
    await seeded.get();
    await next();
  };
  for (const p of ["/api/*", "/apis/*"]) app.use(p, limit, ready);

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
  for (const g of apiGroups()) {
    app.get(`/apis/${g.name}`, authed(() => g));
    for (const v of g.versions) {
      app.get(
        `/apis/${v.groupVersion}`,
        authed(() => apiResourceList(g.name, v.version)),
      );
    }
  }
  openApiRoutes(app, async (c) => {
    requireIdentity(await deps.authenticate(c.req.raw));
  });

  const hd = {
    registry,
    authenticate: deps.authenticate,
    bookmarkIntervalMs: deps.bookmarkIntervalMs ?? 60_000,
    signal: deps.signal,
  };
  const notAllowed = () => {
    throw new ApiError(
      405,
      "MethodNotAllowed",
      "the server does not allow this method on the requested resource",
    );
  };

  // One object and its status subresource (no DELETE on /status).
  const objectRoutes = (def: ResourceDef, h: ResourceHandlers) => {
    const item = `${collection(def)}/:name`;
    for (const p of def.status ? [item, `${item}/status`] : [item]) {
      app.get(p, h.get);
      app.put(p, h.update);
      app.patch(p, h.patch);
      if (p === item) app.delete(p, h.delete);
      app.all(p, notAllowed);
    }
  };

  metricsRoutes(app, {
    ...deps,
    nodeExists: async (name) => void await registry.get(NODES, undefined, name),
  });
  nodeProxy(app, deps, registry);
  for (const def of RESOURCES) {
    const h = new ResourceHandlers(def, hd);
    if (def.namespaced) {
      const all = `${basePath(def)}/${def.plural}`;
      app.get(all, h.list);
      app.all(all, notAllowed);
    }
    app.get(collection(def), h.list);
    app.post(collection(def), h.create);
    app.all(collection(def), notAllowed);
    objectRoutes(def, h);
  }
  return app;
}

/** The path of a resource's collection (in a namespace: `:ns`). */
function collection(def: ResourceDef): string {
  return def.namespaced
    ? `${basePath(def)}/namespaces/:ns/${def.plural}`
    : `${basePath(def)}/${def.plural}`;
}

/**
 * Creates the system namespaces once (`get()` waits for it; a failure is
 * retried by the next request).
 */
function seedNamespaces(registry: Registry): { get(): Promise<void> } {
  let done: Promise<void> | null = null;
  const run = async () => {
    for (const name of SYSTEM_NAMESPACES) {
      try {
        await registry.create(NAMESPACES, { metadata: { name } });
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 409)) throw e;
      }
    }
  };
  return {
    get() {
      done ??= run().catch((e) => {
        done = null;
        throw e;
      });
      return done;
    },
  };
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
    }, NODES.nodeAccess);
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
