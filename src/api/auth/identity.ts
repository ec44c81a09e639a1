// Who is calling the API. The authenticator (src/api/auth) produces it from a
// request; the API's authorization rules and the tunnel consume it.

export interface Identity {
  /** "system:admin" for the admin, "system:node:<name>" for a node. */
  user: string;
  /** e.g. ["system:masters"] for the admin, ["system:nodes"] for nodes. */
  groups: string[];
  /** The node name when the caller is a node. */
  node?: string;
  /** Aborts when the credential behind this identity is revoked: long
   * requests (watches, tunnel sessions) opened with it end then. */
  revoked?: AbortSignal;
}

export const ADMIN_GROUP = "system:masters";
export const NODES_GROUP = "system:nodes";

export function isAdmin(id: Identity): boolean {
  return id.groups.includes(ADMIN_GROUP);
}

/** The node name of a node identity, or null. */
export function nodeOf(id: Identity): string | null {
  return id.groups.includes(NODES_GROUP) && id.node ? id.node : null;
}
