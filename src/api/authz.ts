// Authorization on top of the authenticated identity, NodeRestriction-like:
// the admin may do everything; a node may read every served resource and
// write what its row's nodeAccess allows (its own Node, pods bound to it,
// events); of those it may delete only pods bound to it (the containers its
// CNI plugin attached). Anyone else is refused.

import { type Identity, isAdmin, nodeOf } from "./auth/mod.ts";
import { ApiError } from "./errors.ts";
import type { NodeAccess } from "./resources.ts";

export type Verb =
  | "get"
  | "list"
  | "watch"
  | "create"
  | "update"
  | "patch"
  | "delete";

export interface Attributes {
  verb: Verb;
  resource: string;
  /** API group of the resource ("" core). */
  group?: string;
  subresource?: "status" | "proxy";
  namespace?: string;
  name?: string;
}

function unauthorized(): ApiError {
  return new ApiError(401, "Unauthorized", "Unauthorized");
}

function forbidden(id: Identity, a: Attributes, why: string): ApiError {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace
    ? `in the namespace "${a.namespace}"`
    : "at the cluster scope";
  const what = a.name ? `${a.resource} "${a.name}"` : a.resource;
  return new ApiError(
    403,
    "Forbidden",
    `${what} is forbidden: User "${id.user}" cannot ${a.verb} resource "${res}" in API group "${
      a.group ?? ""
    }" ${scope}: ${why}`,
    { name: a.name, kind: a.resource },
  );
}

/** Throws 401 without an identity; the caller is authenticated otherwise. */
export function requireIdentity(id: Identity | null): Identity {
  if (!id) throw unauthorized();
  return id;
}

const READ: Verb[] = ["get", "list", "watch"];

/**
 * Checks a request before it touches the store, for a resource whose row
 * grants nodes `access`. For "bound" resources the objects must also pass
 * `authorizePodBinding`.
 */
export function authorize(
  id: Identity | null,
  a: Attributes,
  access: NodeAccess = "read",
): Identity {
  const who = requireIdentity(id);
  if (isAdmin(who)) return who;
  const node = nodeOf(who);
  if (!node) throw forbidden(who, a, "no rule allows it");
  if (a.subresource === "proxy") {
    throw forbidden(who, a, "only administrators may proxy to nodes");
  }
  if (READ.includes(a.verb)) return who;
  // Deleting a bound object (a pod): the handler checks the stored one is
  // bound to the node (authorizePodBinding), as for every other such write.
  if (a.verb === "delete" && access !== "bound") {
    throw forbidden(who, a, `node "${node}" may not delete ${a.resource}`);
  }
  if (access === "read") {
    throw forbidden(who, a, `nodes may only read ${a.resource}`);
  }
  if (access === "self" && a.name !== node) {
    throw forbidden(
      who,
      a,
      `node "${node}" is not allowed to modify ${
        a.resource === "nodes" ? "node" : a.resource
      } "${a.name}"`,
    );
  }
  return who;
}

/** For node identities: every pod version involved must be bound to it. */
export function authorizePodBinding(
  id: Identity,
  a: Attributes,
  nodeNames: unknown[],
): void {
  if (isAdmin(id)) return;
  const node = nodeOf(id);
  for (const n of nodeNames) {
    if (n !== node) {
      throw forbidden(
        id,
        a,
        `node "${node}" may only ${a.verb} pods with spec.nodeName "${node}"`,
      );
    }
  }
}
