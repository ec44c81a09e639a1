// A small Kubernetes API client over fetch: bearer token or client
// certificate, a pinned CA, JSON bodies, Status errors, streamed watches.

import type { Agent } from "node:https";
import { httpsAgent, httpsFetch } from "./_https.ts";
import type { Balancer } from "./balancer.ts";
import { errorFromResponse, KubeError } from "./errors.ts";
import {
  type Informer,
  type InformerHandlers,
  type InformerOptions,
  startInformer,
} from "./informer.ts";
import type {
  KubeList,
  KubeObject,
  ObjectEvent,
  Status,
  WatchEvent,
} from "./types.ts";

export interface KubeClientOptions {
  /** API server URL, e.g. https://127.0.0.1:6443 */
  server: string;
  token?: string;
  /** PEM CA bundle the server's certificate must chain to. */
  caPem?: string;
  /** Client certificate and key (PEM). */
  clientCert?: { certPem: string; keyPem: string };
  /** Skip server certificate verification (kubeconfig's insecure-skip-tls-verify). */
  insecureSkipTlsVerify?: boolean;
  userAgent?: string;
  /** Several API servers: requests follow the balancer's current one and
   * move to the next when a server cannot be reached. */
  balancer?: Balancer;
}

export type PatchType = "merge" | "strategic" | "json" | "apply";

const PATCH_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};

export interface Selectors {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface ListOptions extends Selectors {
  limit?: number;
  signal?: AbortSignal;
}

export interface WatchOptions extends Selectors {
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export class KubeClient {
  readonly server: string;
  readonly #opts: KubeClientOptions;
  /** HTTPS goes through node:https: a pinned CA is then the only trust
   * anchor (Deno's fetch would add it to the default roots). */
  readonly #https?: Agent;

  constructor(opts: KubeClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.server);
    } catch (e) {
      throw new TypeError(
        `invalid API server URL ${
          JSON.stringify(opts.server)
        }; use https://host:port`,
        { cause: e },
      );
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new TypeError(
        `API server URL ${
          JSON.stringify(opts.server)
        } must be http:// or https://`,
      );
    }
    this.server = url.origin + url.pathname.replace(/\/$/, "");
    this.#opts = opts;
    if (url.protocol === "https:") {
      this.#https = httpsAgent({
        ca: opts.caPem,
        insecure: opts.insecureSkipTlsVerify,
        cert: opts.clientCert?.certPem,
        key: opts.clientCert?.keyPem,
      });
    }
  }

  /** The options this client was made with (for building a sibling). */
  get options(): Readonly<KubeClientOptions> {
    return this.#opts;
  }

  close(): void {
    this.#https?.destroy();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  url(path: string, query?: RequestOptions["query"]): string {
    const base = this.#opts.balancer?.current() ?? this.server;
    const u = new URL(base + (path.startsWith("/") ? path : "/" + path));
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== "") u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  /** One raw request; non-2xx answers are returned, not thrown. With a
   * balancer, a server that cannot be reached is skipped for the next. */
  async raw(
    method: string,
    path: string,
    o: RequestOptions = {},
  ): Promise<Response> {
    const b = this.#opts.balancer;
    for (let tries = b ? b.servers.length : 1;; tries--) {
      const base = b?.current();
      try {
        return await this.#raw(method, path, o);
      } catch (e) {
        if (!b || !base || tries <= 1 || o.signal?.aborted) throw e;
        b.failed(base);
      }
    }
  }

  async #raw(
    method: string,
    path: string,
    o: RequestOptions,
  ): Promise<Response> {
    const headers = new Headers({ accept: "application/json" });
    if (this.#opts.token) {
      headers.set("authorization", `Bearer ${this.#opts.token}`);
    }
    headers.set("user-agent", this.#opts.userAgent ?? "weft");
    let body: string | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
      headers.set("content-type", o.contentType ?? "application/json");
    }
    const url = this.url(path, o.query);
    try {
      if (this.#https) {
        return await httpsFetch(url, {
          method,
          headers,
          body,
          signal: o.signal,
        }, this.#https);
      }
      return await fetch(url, { method, headers, body, signal: o.signal });
    } catch (e) {
      if (o.signal?.aborted) throw e;
      throw new KubeError(
        0,
        "ConnectionFailed",
        `${method} ${url}: ${(e as Error).message}`,
        undefined,
        { cause: e },
      );
    }
  }

  /** A request whose 2xx JSON answer is returned; anything else throws KubeError. */
  async request<T>(
    method: string,
    path: string,
    o: RequestOptions = {},
  ): Promise<T> {
    const res = await this.raw(method, path, o);
    if (!res.ok) throw await errorFromResponse(res);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new KubeError(
        res.status,
        "InvalidResponse",
        `${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`,
        undefined,
        { cause: e },
      );
    }
  }

  get<T extends KubeObject = KubeObject>(
    path: string,
    signal?: AbortSignal,
  ): Promise<T> {
    return this.request<T>("GET", path, { signal });
  }

  async list<T extends KubeObject = KubeObject>(
    path: string,
    o: ListOptions = {},
  ): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.request<KubeList<T>>("GET", path, {
        query: {
          labelSelector: o.labelSelector,
          fieldSelector: o.fieldSelector,
          limit: o.limit,
          continue: cont,
        },
        signal: o.signal,
      });
      items.push(...(page.items ?? []));
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return { items, resourceVersion: rv };
  }

  create<T extends KubeObject>(path: string, obj: T): Promise<T> {
    return this.request<T>("POST", path, { body: obj });
  }

  update<T extends KubeObject>(path: string, obj: T): Promise<T> {
    return this.request<T>("PUT", path, { body: obj });
  }

  patch<T extends KubeObject = KubeObject>(
    path: string,
    patch: unknown,
    type: PatchType = "merge",
  ): Promise<T> {
    return this.request<T>("PATCH", path, {
      body: patch,
      contentType: PATCH_TYPES[type],
    });
  }

  delete(path: string): Promise<KubeObject | Status> {
    return this.request<KubeObject | Status>("DELETE", path);
  }

  /**
   * Watches `path` from `resourceVersion`; yields events until the server
   * ends the stream or the signal aborts. An ERROR event throws KubeError
   * (410 Gone: relist).
   */
  async *watch<T extends KubeObject = KubeObject>(
    path: string,
    o: WatchOptions = {},
  ): AsyncGenerator<ObjectEvent<T>> {
    const res = await this.raw("GET", path, {
      query: {
        watch: 1,
        resourceVersion: o.resourceVersion,
        labelSelector: o.labelSelector,
        fieldSelector: o.fieldSelector,
        allowWatchBookmarks: o.allowWatchBookmarks,
        timeoutSeconds: o.timeoutSeconds,
      },
      signal: o.signal,
    });
    if (!res.ok) throw await errorFromResponse(res);
    if (!res.body) return;
    for await (const line of jsonLines(res.body, o.signal)) {
      const ev = JSON.parse(line) as WatchEvent<T>;
      if (ev.type === "ERROR") throw KubeError.fromStatus(ev.object);
      yield ev;
    }
  }

  /** A cache of `path` kept current by list + watch; see startInformer. */
  informer<T extends KubeObject = KubeObject>(
    path: string,
    handlers: InformerHandlers<T>,
    opts: InformerOptions<T> = {},
  ): Informer<T> {
    return startInformer<T>(this, path, handlers, opts);
  }
}

/** Splits a byte stream into non-empty lines (one JSON document each). */
async function* jsonLines(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<string> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const onAbort = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  let buf = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) yield line;
      }
    }
    if (buf.trim()) yield buf.trim();
  } finally {
    signal?.removeEventListener("abort", onAbort);
    await reader.cancel().catch(() => {});
  }
}
