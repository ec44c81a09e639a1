// The REST verbs of one resource of the table over the registry:
// list/watch (paged at one revision), get, create, update (PUT), patch
// (including server-side apply), delete, the status subresource, dryRun
// and fieldValidation. Authorization runs first; node-bound checks run on
// the objects themselves.

import type { Context } from "hono";
import { type Identity, isAdmin } from "./auth/mod.ts";
import {
  type Attributes,
  authorize,
  authorizePodBinding,
  type Verb,
} from "./authz.ts";
import { ApiError } from "./errors.ts";
import { parseApply } from "./apply.ts";
import { mergeKeysOf } from "./openapi/merge_keys.ts";
import { unknownFields } from "./openapi/validate.ts";
import {
  asKubeObject,
  checkPathSegment,
  isObject,
  type JsonObject,
  type KubeObject,
  nowTimestamp,
  parseBody,
} from "./object.ts";
import { readPage } from "./list.ts";
import { applyWithOwnership } from "./managed_fields.ts";
import { applyPatch } from "./patch.ts";
import { parseRv, type Registry, type WriteOptions } from "./registry.ts";
import {
  fieldValue,
  groupVersion,
  NAMESPACES,
  type ResourceDef,
  RESOURCES,
  storeKey,
} from "./resources.ts";
import { fieldSelector, labelSelector } from "./selectors.ts";
import { toTable, wantsTable } from "./table.ts";
import { watchResponse } from "./watch.ts";

export interface HandlerDeps {
  registry: Registry;
  authenticate: (req: Request) => Promise<Identity | null>;
  bookmarkIntervalMs: number;
  signal?: AbortSignal;
}

function json(body: unknown, code = 200, warnings: string[] = []): Response {
  const headers = new Headers({ "content-type": "application/json" });
  for (const w of warnings) {
    // A header carries bytes: anything but printable ASCII (field names
    // are client text) is escaped.
    const text = JSON.stringify(w).replace(
      /[^\x20-\x7e]/g,
      (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
    headers.append("warning", `299 - ${text}`);
  }
  return new Response(JSON.stringify(body), { status: code, headers });
}

const APPLY_PATCH = "application/apply-patch+yaml";

/** dryRun=All (the only value Kubernetes defines); 400 for others. */
function dryRunOf(c: Context): WriteOptions {
  const all = c.req.queries("dryRun") ?? [];
  for (const v of all) {
    if (v !== "All") {
      throw ApiError.badRequest(
        `unsupported dryRun ${JSON.stringify(v.slice(0, 64))}: only "All"`,
      );
    }
  }
  return { dryRun: all.length > 0 };
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
  // As Kubernetes: a write that does not send managedFields keeps them.
  if (
    sub !== "status" && sent.metadata.managedFields === undefined &&
    current.metadata.managedFields !== undefined
  ) {
    next.metadata = {
      ...next.metadata,
      managedFields: current.metadata.managedFields,
    };
  }
  return next;
}

export class ResourceHandlers {
  constructor(readonly def: ResourceDef, readonly deps: HandlerDeps) {}

  async #auth(c: Context, a: Omit<Attributes, "resource">): Promise<Identity> {
    const id = await this.deps.authenticate(c.req.raw);
    return authorize(
      id,
      { ...a, resource: this.def.plural, group: this.def.group },
      this.def.nodeAccess,
    );
  }

  /** Unknown fields under fieldValidation: Strict -> 400, Warn (the
   * default) -> warnings, Ignore -> nothing. */
  #fieldWarnings(c: Context, obj: KubeObject): string[] {
    const mode = c.req.query("fieldValidation") ?? "Warn";
    if (!["Strict", "Warn", "Ignore"].includes(mode)) {
      throw ApiError.badRequest(
        `fieldValidation must be Strict, Warn or Ignore, not ${
          JSON.stringify(mode.slice(0, 64))
        }`,
      );
    }
    if (mode === "Ignore") return [];
    const unknown = unknownFields(this.def, obj as never).map((f) =>
      `unknown field "${f}"`
    );
    if (mode === "Strict" && unknown.length) {
      throw ApiError.badRequest(
        `strict decoding error: ${unknown.slice(0, 20).join(", ")}`,
      );
    }
    return unknown.slice(0, 20);
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
    if (this.def.nodeAccess !== "bound") return;
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
    const limit = queryCount("limit", q("limit"));
    const rv = parseRv(q("resourceVersion"));
    const id = await this.#auth(c, {
      verb: watch ? "watch" : "list",
      namespace: ns,
    });
    const labels = labelSelector(q("labelSelector"));
    const fields = fieldSelector(q("fieldSelector"), this.def.fields);
    const conv = this.def.convert;
    const match = (o: KubeObject) =>
      labels((k) => ownValue(o.metadata.labels, k)) &&
      fields((f) => fieldValue(conv ? conv.toStored(o) : o, f));
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
        revoked: id.revoked,
      });
    }
    if (this.def.ttl) await this.deps.registry.expire(this.def);
    const { items, revision, next } = await readPage(
      this.deps.registry,
      this.def,
      ns,
      match,
      {
        limit: limit === undefined || limit === 0
          ? undefined
          : Math.min(limit, 1_000_000),
        cont: q("continue") || undefined,
        rv,
        rvMatch: q("resourceVersionMatch") || undefined,
      },
    );
    if (table) {
      const t = toTable(this.def, items, String(revision), table.includeObject);
      if (next) (t.metadata as Record<string, string>).continue = next;
      return json(t);
    }
    return json({
      kind: `${this.def.kind}List`,
      apiVersion: groupVersion(this.def),
      metadata: {
        resourceVersion: String(revision),
        ...(next ? { continue: next } : {}),
      },
      items,
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
    const body = this.#object(parseBody(await c.req.text()));
    const id = await this.#auth(c, { ...a, name: body.metadata.name });
    const warnings = this.#fieldWarnings(c, body);
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
    this.#bindingCheck(id, { ...a, resource: this.def.plural }, [body]);
    if (this.def.ttl) await this.deps.registry.expire(this.def);
    const created = await this.deps.registry.create(
      this.def,
      body,
      dryRunOf(c),
    );
    return json(created, 201, warnings);
  };

  #object(body: JsonObject): KubeObject {
    return asKubeObject(this.def.kind, body, groupVersion(this.def));
  }

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
    const body = this.#object(parseBody(await c.req.text()));
    const warnings = this.#fieldWarnings(c, body);
    const updated = await this.deps.registry.update(
      this.def,
      ns,
      name,
      (old) => {
        const next = written(sub, old, body);
        this.#bindingCheck(id, a, [old, next]);
        return next;
      },
      dryRunOf(c),
    );
    return json(updated, 200, warnings);
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
    const type = (c.req.header("content-type") ?? "").split(";")[0].trim()
      .toLowerCase();
    const text = await c.req.text();
    const opts = dryRunOf(c);
    if (type === APPLY_PATCH) {
      return await this.#apply(c, { ns, name, sub, a, id, text, opts });
    }
    let warnings: string[] = [];
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
          mergeKeysOf(this.def),
        );
        if (!isObject(patched) || !isObject(patched.metadata)) {
          throw ApiError.badRequest(
            "the patched object must keep its metadata",
          );
        }
        const obj = this.#object(patched);
        warnings = this.#fieldWarnings(c, obj);
        const next = written(sub, base, obj);
        this.#bindingCheck(id, a, [old, next]);
        return next;
      },
      opts,
    );
    return json(updated, 200, warnings);
  };

  /**
   * Server-side apply (application/apply-patch+yaml): creates the object
   * when it does not exist, else merges the applied configuration into it
   * with the kind's strategic merge keys, tracking which applier owns which
   * field (managed_fields.ts).
   */
  async #apply(
    c: Context,
    r: {
      ns: string | undefined;
      name: string;
      sub: "status" | undefined;
      a: Attributes;
      id: Identity;
      text: string;
      opts: WriteOptions;
    },
  ): Promise<Response> {
    const manager = c.req.query("fieldManager") ?? "";
    if (!manager || manager.length > 128) {
      throw ApiError.badRequest(
        "PATCH with application/apply-patch+yaml requires the fieldManager parameter (at most 128 characters)",
      );
    }
    const force = isTrue(c.req.query("force"));
    const applied = this.#object(parseApply(r.text));
    if (
      applied.metadata.name !== undefined && applied.metadata.name !== r.name
    ) {
      throw ApiError.badRequest(
        `the name of the object (${applied.metadata.name}) does not match the name on the URL (${r.name})`,
      );
    }
    delete applied.metadata.managedFields;
    const warnings = this.#fieldWarnings(c, applied);
    const own = (current: KubeObject | null) =>
      applyWithOwnership({
        current,
        applied,
        manager,
        force,
        keys: mergeKeysOf(this.def),
        apiVersion: groupVersion(this.def),
        now: nowTimestamp(),
      });
    const exists = await this.deps.registry.store.get(
      storeKey(this.def, r.ns, r.name),
    );
    if (!exists && r.sub === undefined) {
      const obj = this.#object(own(null) as unknown as JsonObject);
      obj.metadata.name = r.name;
      if (this.def.namespaced) obj.metadata.namespace = r.ns;
      delete obj.metadata.resourceVersion;
      this.#bindingCheck(r.id, r.a, [obj]);
      const created = await this.deps.registry.create(this.def, obj, r.opts);
      return json(created, 201, warnings);
    }
    const updated = await this.deps.registry.update(
      this.def,
      r.ns,
      r.name,
      (old) => {
        const base = structuredClone(old);
        delete base.metadata.resourceVersion;
        const obj = this.#object(own(base) as unknown as JsonObject);
        const next = written(r.sub, base, obj);
        this.#bindingCheck(r.id, r.a, [old, next]);
        return next;
      },
      r.opts,
    );
    return json(updated, 200, warnings);
  }

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
    if (this.def.nodeAccess === "bound" && !isAdmin(id)) {
      // A node deletes only objects bound to it: the version checked is the
      // version deleted.
      const cur = await this.deps.registry.get(this.def, ns, name);
      this.#bindingCheck(id, a, [cur]);
      pre.resourceVersion ??= Number(cur.metadata.resourceVersion);
    }
    const opts = dryRunOf(c);
    const gone = await this.deps.registry.delete(
      this.def,
      ns,
      name,
      pre,
      opts,
    );
    if (this.def === NAMESPACES && !opts.dryRun) {
      await this.#deleteContents(name);
    }
    return json({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: { name, kind: this.def.plural, uid: gone.metadata.uid },
    });
  };

  /** A deleted namespace takes its objects with it. */
  async #deleteContents(ns: string): Promise<void> {
    const seen = new Set<string>();
    for (const def of RESOURCES) {
      if (!def.namespaced || seen.has(def.prefix)) continue;
      seen.add(def.prefix);
      const { items } = await this.deps.registry.list(def, ns);
      for (const o of items) {
        await this.deps.registry.delete(def, ns, o.metadata.name!).catch(
          () => {},
        );
      }
    }
  }
}
