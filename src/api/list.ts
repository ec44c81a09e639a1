// A list request read in pages (limit/continue), every page at the
// revision of the first, and the resourceVersion/resourceVersionMatch
// rules for which revision a list reads.

import type { Store } from "../store/mod.ts";
import {
  type ContinueToken,
  decodeContinue,
  encodeContinue,
  expired,
} from "./continue.ts";
import { ApiError } from "./errors.ts";
import type { KubeObject } from "./object.ts";
import type { Registry } from "./registry.ts";
import { listPrefix, type ResourceDef, storeKey } from "./resources.ts";

export interface PageOptions {
  /** At most this many objects (none: all). */
  limit?: number;
  /** The token of the previous page. */
  cont?: string;
  /** resourceVersion (0 = any). */
  rv?: number;
  rvMatch?: string;
}

/** The revision a list reads at: a continue token's, resourceVersion
 * with resourceVersionMatch=Exact, else the current one. */
async function listRevision(
  store: Store,
  o: PageOptions,
): Promise<{ revision?: number; token?: ContinueToken }> {
  if (o.cont) {
    if (o.rvMatch || (o.rv !== undefined && o.rv !== 0)) {
      throw ApiError.badRequest(
        "specifying resource version is not allowed when using continue",
      );
    }
    const token = decodeContinue(o.cont);
    if (token.rv > await store.revision()) {
      throw ApiError.badRequest("invalid continue token: future revision");
    }
    if (token.rv < await store.compactRevision()) throw expired();
    return { revision: token.rv, token };
  }
  if (o.rvMatch !== undefined) {
    if (o.rvMatch !== "Exact" && o.rvMatch !== "NotOlderThan") {
      throw ApiError.badRequest(
        `resourceVersionMatch must be Exact or NotOlderThan, not ${
          JSON.stringify(o.rvMatch.slice(0, 64))
        }`,
      );
    }
    if (o.rv === undefined) {
      throw ApiError.badRequest(
        "resourceVersionMatch is forbidden unless resourceVersion is provided",
      );
    }
    if (o.rvMatch === "Exact" && o.rv === 0) {
      throw ApiError.badRequest(
        `resourceVersionMatch "Exact" is forbidden for resourceVersion "0"`,
      );
    }
  }
  if (o.rv !== undefined && o.rv > await store.revision()) {
    throw new ApiError(
      504,
      "Timeout",
      `Too large resource version: ${o.rv}, current: ${await store
        .revision()}`,
    );
  }
  return o.rvMatch === "Exact" ? { revision: o.rv } : {};
}

/** One page of matching objects, all read at one revision. */
export async function readPage(
  registry: Registry,
  def: ResourceDef,
  ns: string | undefined,
  match: (o: KubeObject) => boolean,
  o: PageOptions,
): Promise<{ items: KubeObject[]; revision: number; next?: string }> {
  const prefix = listPrefix(def, ns);
  let { revision, token } = await listRevision(registry.store, o);
  let after = token ? prefix + token.start : undefined;
  const items: KubeObject[] = [];
  while (true) {
    let page;
    try {
      page = await registry.list(def, ns, {
        revision,
        after,
        limit: o.limit,
      });
    } catch (e) {
      if (token && e instanceof ApiError && e.code === 410) throw expired();
      throw e;
    }
    revision = page.revision;
    for (const [i, item] of page.items.entries()) {
      if (!match(item)) continue;
      items.push(item);
      if (o.limit !== undefined && items.length === o.limit) {
        const rest = i < page.items.length - 1 || page.more;
        const key = storeKey(
          def,
          item.metadata.namespace,
          item.metadata.name!,
        );
        return {
          items,
          revision,
          next: rest
            ? encodeContinue({
              rv: revision,
              start: key.slice(prefix.length),
            })
            : undefined,
        };
      }
    }
    if (!page.more || page.lastKey === undefined) return { items, revision };
    after = page.lastKey;
  }
}
