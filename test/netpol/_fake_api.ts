// A kube-apiserver stand-in for the network policy controller: list and
// watch of NetworkPolicies, Pods and Namespaces (cluster-wide collections,
// as a real server serves them), in memory over TLS. Tests change objects
// with put()/remove(); the watchers see ADDED/MODIFIED/DELETED in order.

import { KubeClient, type KubeObject } from "../../src/kube/mod.ts";
import { withServerPKI } from "../harness/pki.ts";

export const COLLECTIONS = {
  "/apis/networking.k8s.io/v1/networkpolicies": {
    kind: "NetworkPolicy",
    apiVersion: "networking.k8s.io/v1",
  },
  "/api/v1/pods": { kind: "Pod", apiVersion: "v1" },
  "/api/v1/namespaces": { kind: "Namespace", apiVersion: "v1" },
} as const;
export type Collection = keyof typeof COLLECTIONS;

interface Ev {
  rv: number;
  path: Collection;
  type: "ADDED" | "MODIFIED" | "DELETED";
  obj: KubeObject;
}

interface Watcher {
  path: Collection;
  ctl: ReadableStreamDefaultController<Uint8Array>;
}

const key = (o: KubeObject) =>
  `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
const enc = new TextEncoder();

export class FakeResourceApi {
  readonly token = "netpol-token";
  readonly objects = new Map<Collection, Map<string, KubeObject>>(
    Object.keys(COLLECTIONS).map((p) => [p as Collection, new Map()]),
  );
  /** Collections answering 404 (as a server without the resource does). */
  readonly missing = new Set<Collection>();
  #rv = 1;
  #events: Ev[] = [];
  #watchers = new Set<Watcher>();
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

  async close(): Promise<void> {
    for (const w of this.#watchers) w.ctl.close();
    this.#watchers.clear();
    await this.#server.shutdown();
  }

  put<T extends KubeObject>(path: Collection, obj: T): T {
    const objs = this.objects.get(path)!;
    const type = objs.has(key(obj)) ? "MODIFIED" : "ADDED";
    const stored = structuredClone({ ...obj, ...COLLECTIONS[path] });
    stored.metadata.resourceVersion = String(++this.#rv);
    objs.set(key(stored), stored);
    this.#emit({ rv: this.#rv, path, type, obj: stored });
    return stored;
  }

  remove(path: Collection, namespace: string | undefined, name: string): void {
    const objs = this.objects.get(path)!;
    const old = objs.get(`${namespace ?? ""}/${name}`);
    if (!old) return;
    objs.delete(key(old));
    const obj = structuredClone(old);
    obj.metadata.resourceVersion = String(++this.#rv);
    this.#emit({ rv: this.#rv, path, type: "DELETED", obj });
  }

  #emit(ev: Ev): void {
    this.#events.push(ev);
    for (const w of this.#watchers) if (w.path === ev.path) this.#send(w, ev);
  }

  #send(w: Watcher, ev: Ev): void {
    w.ctl.enqueue(
      enc.encode(JSON.stringify({ type: ev.type, object: ev.obj }) + "\n"),
    );
  }

  #handle(req: Request): Response {
    if (req.headers.get("authorization") !== `Bearer ${this.token}`) {
      return Response.json({ kind: "Status", code: 401 }, { status: 401 });
    }
    const url = new URL(req.url);
    const path = url.pathname as Collection;
    if (
      !(path in COLLECTIONS) || this.missing.has(path) || req.method !== "GET"
    ) {
      return Response.json({
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        code: 404,
        reason: "NotFound",
        message: "the server could not find the requested resource",
      }, { status: 404 });
    }
    if (url.searchParams.get("watch")) {
      const from = Number(url.searchParams.get("resourceVersion") || this.#rv);
      let w!: Watcher;
      const body = new ReadableStream<Uint8Array>({
        start: (ctl) => {
          w = { path, ctl };
          for (const ev of this.#events) {
            if (ev.rv > from && ev.path === path) this.#send(w, ev);
          }
          this.#watchers.add(w);
        },
        cancel: () => {
          this.#watchers.delete(w);
        },
      });
      return new Response(body, {
        headers: { "content-type": "application/json" },
      });
    }
    return Response.json({
      kind: `${COLLECTIONS[path].kind}List`,
      apiVersion: COLLECTIONS[path].apiVersion,
      metadata: { resourceVersion: String(this.#rv) },
      items: [...this.objects.get(path)!.values()],
    });
  }
}

/** Runs `fn` against a fresh fake server and a client for it. */
export function withFakeResourceApi(
  prefix: string,
  fn: (api: FakeResourceApi, client: KubeClient) => Promise<void>,
): Promise<void> {
  return withServerPKI(prefix, async (_dir, pki) => {
    const api = new FakeResourceApi(pki.certPem, pki.keyPem);
    const client = new KubeClient({
      server: api.url,
      caPem: pki.caPem,
      token: api.token,
    });
    try {
      await fn(api, client);
    } finally {
      client.close();
      await api.close();
    }
  });
}
