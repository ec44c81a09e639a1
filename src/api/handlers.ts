// The REST verbs of one resource (nodes or pods) over the registry:
// list/watch, get, create, update (PUT), patch, delete, and the status
// subresource. Authorization runs first; node-bound pod checks run on the
// objects themselves.

import type { Context } from "hono";
import { type Identity, isAdmin } from "./auth/mod.ts";
import {
  type Attributes,
  authorize,
  authorizePodBinding,
  type Verb,
} from "./authz.ts";
import { ApiError } from "./errors.ts";
import {
  asKubeObject,
  checkPathSegment,
  isObject,
  type KubeObject,
  parseBody,
} from "./object.ts";
import { applyPatch } from "./patch.ts";
import { parseRv, type Registry } from "./registry.ts";
import { fieldValue, type ResourceDef } from "./resources.ts";
import { fieldSelector, labelSelector } from "./selectors.ts";
import { toTable, wantsTable } from "./table.ts";
import { watchResponse } from "./watch.ts";

export interface HandlerDeps {
  registry: Registry;
  authenticate: (req: Request) => Promise<Identity | null>;
  bookmarkIntervalMs: number;
  signal?: AbortSignal;
}

function json(body: unknown, code = 200): Response {
  return new Response(JSON.stringify(body), {
    status: code,
    headers: { "content-type": "application/json" },
  });
}

/** `map[key]` when it is the map's own entry (never Object.prototype's). */
function ownValue(
  map: Record<string, string> | undefined,
  key: string,
): string | undefined {
  return map && Object.hasOwn(map, key) ? map[key] : undefined;
}

/** The longest timer the runtime keeps (2^31 - 1 ms): a longer watch
 * timeout would fire at once. */
const MAX_TIMEOUT_SECONDS = Math.floor(0x7fffffff / 1000);

/** A non-negative whole-number query parameter (may be Infinity when huge:
 * callers clamp); 400 for anything else. */
function queryCount(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v)) {
    throw ApiError.badRequest(
      `invalid ${name} ${
        JSON.stringify(v.slice(0, 64))
      }: must be a non-negative integer`,
    );
  }
  return Number(v);
}

function isTrue(v: string | undefined): boolean {
  return v === "1" || v === "true";
}

/**
 * What an update or patch of `current` writes, given the object the client
 * `sent` (or the patch produced): through /status only its status (and the
 * resourceVersion it expects), otherwise everything but the status.
 */
function written(
  sub: "status" | undefined,
  current: KubeObject,
  sent: KubeObject,
): KubeObject {
  const next = sub === "status"
    ? {
      ...current,
      status: sent.status,
      metadata: {
        ...current.metadata,
        resourceVersion: sent.metadata.resourceVersion,
      },
    }
    : { ...sent, status: current.status };
  if (next.status === undefined) delete next.status;
  return next;
}

export class ResourceHandlers {
  constructor(readonly def: ResourceDef, readonly deps: HandlerDeps) {}

  async #auth(c: Context, a: Omit<Attributes, "resource">): Promise<Identity> {
    const id = await this.deps.authenticate(c.req.raw);
    return authorize(id, { ...a, resource: this.def.plural });
  }

  #ns(c: Context): string | undefined {
    const ns = c.req.param("ns");
    if (!this.def.namespaced || ns === undefined) return undefined;
    return checkPathSegment("namespace", ns);
  }

  #name(c: Context): string {
    return checkPathSegment("name", c.req.param("name") ?? "");
  }

  #bindingCheck(id: Identity, a: Attributes, objs: (KubeObject | null)[]) {
    if (this.def.kind !== "Pod") return;
    authorizePodBinding(
      id,
      a,
      objs.filter((o) => o).map((o) => o!.spec?.nodeName),
    );
  }

  list = async (c: Context): Promise<Response> => {
    const ns = this.#ns(c);
    const q = (k: string) => c.req.query(k);
    const watch = isTrue(q("watch"));
    // Lists are never paged (no continue token): a valid limit is ignored.
    queryCount("limit", q("limit"));
    const rv = parseRv(q("resourceVersion"));
    await this.#auth(c, { verb: watch ? "watch" : "list", namespace: ns });
    const labels = labelSelector(q("labelSelector"));
    const fields = fieldSelector(q("fieldSelector"), this.def.fields);
    const match = (o: KubeObject) =>
      labels((k) => ownValue(o.metadata.labels, k)) &&
      fields((f) => fieldValue(o, f));
    const table = wantsTable(c.req.header("accept"))
      ? { includeObject: q("includeObject") ?? "Metadata" }
      : undefined;
    if (watch) {
      const timeout = queryCount("timeoutSeconds", q("timeoutSeconds"));
      const sendInitial = q("sendInitialEvents");
      return await watchResponse({
        registry: this.deps.registry,
        def: this.def,
        namespace: ns,
        resourceVersion: rv === 0 || isTrue(sendInitial) ? undefined : rv,
        match,
        table,
        bookmarks: isTrue(q("allowWatchBookmarks")),
        bookmarkIntervalMs: this.deps.bookmarkIntervalMs,
        timeoutMs: timeout === undefined
          ? undefined
          : Math.min(timeout, MAX_TIMEOUT_SECONDS) * 1000,
        initialEventsEnd: isTrue(sendInitial),
        signal: this.deps.signal,
      });
    }
    const { items, revision } = await this.deps.registry.list(this.def, ns);
    const selected = items.filter(match);
    if (table) {
      return json(
        toTable(this.def, selected, String(revision), table.includeObject),
      );
    }
    return json({
      kind: `${this.def.kind}List`,
      apiVersion: "v1",
      metadata: { resourceVersion: String(revision) },
      items: selected,
    });
  };

  get = async (c: Context): Promise<Response> => {
    const ns = this.#ns(c);
    const name = this.#name(c);
    await this.#auth(c, {
      verb: "get",
      namespace: ns,
      name,
      subresource: this.#sub(c),
    });
    const obj = await this.deps.registry.get(this.def, ns, name);
    if (wantsTable(c.req.header("accept"))) {
      return json(toTable(
        this.def,
        [obj],
        obj.metadata.resourceVersion,
        c.req.query("includeObject") ?? "Metadata",
      ));
    }
    return json(obj);
  };

  #sub(c: Context): "status" | undefined {
    return c.req.path.endsWith("/status") ? "status" : undefined;
  }

  create = async (c: Context): Promise<Response> => {
    const ns = this.#ns(c);
    const a = { verb: "create" as Verb, namespace: ns };
    const body = asKubeObject(this.def.kind, parseBody(await c.req.text()));
    const id = await this.#auth(c, { ...a, name: body.metadata.name });
    if (this.def.namespaced) {
      if (
        body.metadata.namespace !== undefined && body.metadata.namespace !== ns
      ) {
        throw ApiError.badRequest(
          `the namespace of the provided object (${body.metadata.namespace}) does not match the namespace sent on the request (${ns})`,
        );
      }
      body.metadata.namespace = ns;
    }
    if (this.def.kind === "Pod") {
      body.status = { phase: "Pending", ...body.status };
    }
    this.#bindingCheck(id, { ...a, resource: this.def.plural }, [body]);
    const created = await this.deps.registry.create(this.def, body);
    return json(created, 201);
  };

  update = async (c: Context): Promise<Response> => {
    const ns = this.#ns(c);
    const name = this.#name(c);
    const sub = this.#sub(c);
    const a: Attributes = {
      verb: "update",
      namespace: ns,
      name,
      subresource: sub,
      resource: this.def.plural,
    };
    const id = await this.#auth(c, a);
    const body = asKubeObject(this.def.kind, parseBody(await c.req.text()));
    const updated = await this.deps.registry.update(
      this.def,
      ns,
      name,
      (old) => {
        const next = written(sub, old, body);
        this.#bindingCheck(id, a, [old, next]);
        return next;
      },
    );
    return json(updated);
  };

  patch = async (c: Context): Promise<Response> => {
    const ns = this.#ns(c);
    const name = this.#name(c);
    const sub = this.#sub(c);
    const a: Attributes = {
      verb: "patch",
      namespace: ns,
      name,
      subresource: sub,
      resource: this.def.plural,
    };
    const id = await this.#auth(c, a);
    const type = c.req.header("content-type") ?? "";
    const text = await c.req.text();
    const updated = await this.deps.registry.update(
      this.def,
      ns,
      name,
      (old) => {
        const base = structuredClone(old);
        delete base.metadata.resourceVersion;
        const patched = applyPatch(
          type,
          base as never,
          text,
          this.def.mergeKeys,
        );
        if (!isObject(patched) || !isObject(patched.metadata)) {
          throw ApiError.badRequest(
            "the patched object must keep its metadata",
          );
        }
        const obj = asKubeObject(this.def.kind, patched);
        const next = written(sub, base, obj);
        this.#bindingCheck(id, a, [old, next]);
        return next;
      },
    );
    return json(updated);
  };

  delete = async (c: Context): Promise<Response> => {
    const ns = this.#ns(c);
    const name = this.#name(c);
    const a: Attributes = {
      verb: "delete",
      namespace: ns,
      name,
      resource: this.def.plural,
    };
    const id = await this.#auth(c, a);
    const text = await c.req.text();
    const pre: { resourceVersion?: number; uid?: string } = {};
    if (text.trim() !== "") {
      const opts = parseBody(text);
      const p = opts.preconditions;
      if (isObject(p)) {
        if (typeof p.uid === "string") pre.uid = p.uid;
        if (typeof p.resourceVersion === "string") {
          pre.resourceVersion = parseRv(p.resourceVersion);
        }
      }
    }
    if (this.def.kind === "Pod" && !isAdmin(id)) {
      // A node deletes only pods bound to it: the version checked is the
      // version deleted.
      const cur = await this.deps.registry.get(this.def, ns, name);
      this.#bindingCheck(id, a, [cur]);
      pre.resourceVersion ??= Number(cur.metadata.resourceVersion);
    }
    const gone = await this.deps.registry.delete(this.def, ns, name, pre);
    return json({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name, kind: this.def.plural, uid: gone.metadata.uid },
    });
  };
}
