// A test API: a temp SQLite store, the app, and bearer tokens for an admin
// and for nodes ("Bearer node:<name>").

import type { Hono } from "hono";
import { type ApiDeps, createApp, createNodeIpam } from "../../src/api/mod.ts";
import type { Identity } from "../../src/api/auth/identity.ts";
import { openSqliteStore, type Store } from "../../src/store/mod.ts";

export const ADMIN = "Bearer admin-token";
export const nodeToken = (name: string) => `Bearer node:${name}`;

export async function testAuthenticate(req: Request): Promise<Identity | null> {
  await Promise.resolve();
  const h = req.headers.get("authorization");
  if (h === ADMIN) return { user: "system:admin", groups: ["system:masters"] };
  const m = h?.match(/^Bearer node:(.+)$/);
  if (m) {
    return {
      user: `system:node:${m[1]}`,
      groups: ["system:nodes"],
      node: m[1],
    };
  }
  if (h === "Bearer nobody") return { user: "jane", groups: [] };
  return null;
}

export interface TestApi {
  app: Hono;
  store: Store;
  dir: string;
  path: string;
  logs: string[];
  /** As admin unless `token` is given (null = no credentials). */
  call(
    method: string,
    path: string,
    body?: unknown,
    opts?: { token?: string | null; contentType?: string; accept?: string },
  ): Promise<Response>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface TestApiOptions {
  dir?: string;
  clusterCidrs?: string | string[];
  deps?: Partial<ApiDeps>;
  historyLimit?: number;
  keepDir?: boolean;
}

export async function testApi(opts: TestApiOptions = {}): Promise<TestApi> {
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "weft-api-" });
  const path = `${dir}/state.db`;
  const store = openSqliteStore(path, { historyLimit: opts.historyLimit });
  const logs: string[] = [];
  const log = (m: string) => logs.push(m);
  const ipam = opts.clusterCidrs === undefined
    ? undefined
    : createNodeIpam(store, { clusterCidrs: opts.clusterCidrs, log });
  const app = createApp({
    store,
    ipam,
    authenticate: testAuthenticate,
    log,
    ...opts.deps,
  });
  return {
    app,
    store,
    dir,
    path,
    logs,
    call(method, p, body, o = {}) {
      const headers: Record<string, string> = {};
      const token = o.token === undefined ? ADMIN : o.token;
      if (token !== null) headers.authorization = token;
      if (o.contentType) headers["content-type"] = o.contentType;
      if (o.accept) headers.accept = o.accept;
      return Promise.resolve(app.request(p, {
        method,
        headers,
        body: body === undefined
          ? undefined
          : typeof body === "string"
          ? body
          : JSON.stringify(body),
      }));
    },
    async [Symbol.asyncDispose]() {
      store.close();
      if (!opts.keepDir) await Deno.remove(dir, { recursive: true });
    },
  };
}

export function node(
  name: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { apiVersion: "v1", kind: "Node", metadata: { name }, ...extra };
}

/** Reads JSON lines from a watch response until `n` events arrived. */
export async function readEvents(
  res: Response,
  n: number,
): Promise<
  { reader: ReadableStreamDefaultReader<string>; events: WatchEvent[] }
> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events = await moreEvents(reader, n);
  return { reader, events };
}

export interface WatchEvent {
  type: string;
  object: {
    kind?: string;
    metadata: {
      name?: string;
      resourceVersion?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    };
    code?: number;
    reason?: string;
    rows?: { cells: unknown[] }[];
  };
}

const buffers = new WeakMap<object, string>();

export async function moreEvents(
  reader: ReadableStreamDefaultReader<string>,
  n: number,
): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  let buf = buffers.get(reader) ?? "";
  while (out.length < n) {
    const nl = buf.indexOf("\n");
    if (nl >= 0) {
      out.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
      continue;
    }
    const r = await reader.read();
    if (r.done) break;
    buf += r.value;
  }
  buffers.set(reader, buf);
  return out;
}
