// A minimal kube-apiserver stand-in for client tests: nodes only, in memory,
// over TLS, with switches to drop watch streams and to compact history.

import { KubeClient, type Node } from "../../src/kube/mod.ts";
import type { ServerPKI } from "../../src/tls/mod.ts";
import { withServerPKI } from "../harness/pki.ts";

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: string;
}

interface Ev {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  obj: Node;
}

function status(code: number, reason: string, message: string): Response {
  return Response.json({
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    code,
    reason,
    message,
  }, { status: code });
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    return patch;
  }
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target)
      ? { ...target as Record<string, unknown> }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function matches(obj: Node, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const [k, v] = term.split("=");
    return obj.metadata.labels?.[k] === v;
  });
}

export class FakeApiServer {
  readonly token = "fake-token";
  readonly requests: Recorded[] = [];
  readonly objects = new Map<string, Node>();
  #rv = 100;
  #events: Ev[] = [];
  #compactedBelow = 0;
  #watchers = new Set<
    {
      from: number;
      sel: string | null;
      ctl: ReadableStreamDefaultController<Uint8Array>;
    }
  >();
  #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(cert: string, key: string) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert, key, onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  get url(): string {
    return `https://127.0.0.1:${this.#server.addr.port}`;
  }

  get watchCount(): number {
    return this.#watchers.size;
  }

  async close(): Promise<void> {
    this.dropWatches();
    await this.#server.shutdown();
  }

  /** Ends every open watch stream (as a proxy or a restart would). */
  dropWatches(): void {
    for (const w of this.#watchers) w.ctl.close();
    this.#watchers.clear();
  }

  /** Forgets all history: watches from any older resourceVersion get 410. */
  compact(): void {
    this.#compactedBelow = this.#rv;
    this.#events = [];
  }

  put(obj: Node): Node {
    const name = obj.metadata.name!;
    const type = this.objects.has(name) ? "MODIFIED" : "ADDED";
    const stored: Node = structuredClone({
      ...obj,
      apiVersion: "v1",
      kind: "Node",
    });
    stored.metadata.resourceVersion = String(++this.#rv);
    this.objects.set(name, stored);
    this.#emit({ rv: this.#rv, type, obj: stored });
    return stored;
  }

  remove(name: string): Node | undefined {
    const old = this.objects.get(name);
    if (!old) return undefined;
    this.objects.delete(name);
    const obj = structuredClone(old);
    obj.metadata.resourceVersion = String(++this.#rv);
    this.#emit({ rv: this.#rv, type: "DELETED", obj });
    return obj;
  }

  #emit(ev: Ev): void {
    this.#events.push(ev);
    for (const w of this.#watchers) this.#send(w, ev);
  }

  #send(
    w: { sel: string | null; ctl: ReadableStreamDefaultController<Uint8Array> },
    ev: Ev,
  ): void {
    if (!matches(ev.obj, w.sel)) return;
    w.ctl.enqueue(
      new TextEncoder().encode(
        JSON.stringify({ type: ev.type, object: ev.obj }) + "\n",
      ),
    );
  }

  #watch(q: URLSearchParams): Response {
    const from = Number(q.get("resourceVersion") || this.#rv);
    const sel = q.get("labelSelector");
    const watchers = this.#watchers;
    let entry: {
      from: number;
      sel: string | null;
      ctl: ReadableStreamDefaultController<Uint8Array>;
    };
    const body = new ReadableStream<Uint8Array>({
      start: (ctl) => {
        entry = { from, sel, ctl };
        if (from < this.#compactedBelow) {
          const err = {
            type: "ERROR",
            object: {
              kind: "Status",
              apiVersion: "v1",
              status: "Failure",
              code: 410,
              reason: "Expired",
              message: `too old resource version: ${from}`,
            },
          };
          ctl.enqueue(new TextEncoder().encode(JSON.stringify(err) + "\n"));
          ctl.close();
          return;
        }
        for (const ev of this.#events) if (ev.rv > from) this.#send(entry, ev);
        watchers.add(entry);
      },
      cancel: () => {
        watchers.delete(entry);
      },
    });
    return new Response(body, {
      headers: { "content-type": "application/json" },
    });
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const body = await req.text();
    this.requests.push({
      method: req.method,
      path: url.pathname,
      query: url.searchParams,
      headers: new Headers(req.headers),
      body,
    });
    if (req.headers.get("authorization") !== `Bearer ${this.token}`) {
      return status(401, "Unauthorized", "Unauthorized");
    }
    const m = /^\/api\/v1\/nodes(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) {
      return status(
        404,
        "NotFound",
        "the server could not find the requested resource",
      );
    }
    const name = m[1] ? decodeURIComponent(m[1]) : undefined;
    const q = url.searchParams;
    if (!name) {
      if (req.method === "GET" && q.get("watch")) return this.#watch(q);
      if (req.method === "GET") {
        const items = [...this.objects.values()].filter((o) =>
          matches(o, q.get("labelSelector"))
        );
        return Response.json({
          kind: "NodeList",
          apiVersion: "v1",
          metadata: { resourceVersion: String(this.#rv) },
          items,
        });
      }
      if (req.method === "POST") {
        const obj = JSON.parse(body) as Node;
        if (this.objects.has(obj.metadata.name!)) {
          return status(
            409,
            "AlreadyExists",
            `nodes "${obj.metadata.name}" already exists`,
          );
        }
        return Response.json(this.put(obj), { status: 201 });
      }
      return status(405, "MethodNotAllowed", "method not allowed");
    }
    const cur = this.objects.get(name);
    if (!cur) return status(404, "NotFound", `nodes "${name}" not found`);
    switch (req.method) {
      case "GET":
        return Response.json(cur);
      case "PUT": {
        const obj = JSON.parse(body) as Node;
        if (
          obj.metadata.resourceVersion &&
          obj.metadata.resourceVersion !== cur.metadata.resourceVersion
        ) {
          return status(
            409,
            "Conflict",
            `Operation cannot be fulfilled on nodes "${name}": the object has been modified`,
          );
        }
        return Response.json(this.put(obj));
      }
      case "PATCH": {
        const ct = req.headers.get("content-type") ?? "";
        if (ct === "application/json-patch+json") {
          const ops = JSON.parse(body) as {
            op: string;
            path: string;
            value: string;
          }[];
          const next = structuredClone(cur);
          for (const op of ops) {
            const key = op.path.split("/").pop()!.replace(/~1/g, "/");
            next.metadata.labels = { ...next.metadata.labels, [key]: op.value };
          }
          return Response.json(this.put(next));
        }
        if (!ct.endsWith("merge-patch+json")) {
          return status(415, "UnsupportedMediaType", `unsupported ${ct}`);
        }
        return Response.json(
          this.put(mergePatch(cur, JSON.parse(body)) as Node),
        );
      }
      case "DELETE":
        return Response.json(this.remove(name));
    }
    return status(405, "MethodNotAllowed", "method not allowed");
  }
}

/** Polls `cond` until it holds (the test runner's timeout bounds it). */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what = "condition",
): Promise<void> {
  for (let i = 0; !(await cond()); i++) {
    if (i > 2000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A fake server with its own PKI and a client holding its token and CA. */
/** A test body run against a fake server. */
export type FakeApiTest = (
  fake: FakeApiServer,
  client: KubeClient,
  pki: ServerPKI,
) => Promise<void>;

export function withFakeApiServer(
  prefix: string,
  fn: FakeApiTest,
): Promise<void> {
  return withServerPKI(prefix, async (_dir, pki) => {
    const fake = new FakeApiServer(pki.certPem, pki.keyPem);
    const client = new KubeClient({
      server: fake.url,
      caPem: pki.caPem,
      token: fake.token,
    });
    try {
      await fn(fake, client, pki);
    } finally {
      client.close();
      await fake.close();
    }
  });
}
