// Turns a request's bearer token into an Identity: the admin token and the
// server token are `system:admin` in `system:masters`; a node token issued at
// join is `system:node:<name>` in `system:nodes`. Anything else is anonymous
// (null) and the API answers 401.

import { join } from "node:path";
import { parseToken, randomSecret } from "../../tls/mod.ts";
import { readTextIfExists, writeFileAtomic } from "../../util/fs.ts";
import { FileCache } from "./_file_cache.ts";
import { credDir, nodeCredentials } from "./credentials.ts";
import { ADMIN_GROUP, type Identity, NODES_GROUP } from "./identity.ts";
import { constantTimeEqual } from "./secret.ts";
import {
  METRICS_TOKEN_PREFIX,
  metricsTokenPath,
  monitoringIdentity,
} from "./metrics_token.ts";

export const ADMIN_USER = "system:admin";

export interface AuthenticatorOptions {
  dataDir: string;
  /** How stale a token file changed on disk may be seen; default 1000 ms. */
  recheckMs?: number;
}

export type Authenticate = (req: Request) => Promise<Identity | null>;

export function adminIdentity(): Identity {
  return { user: ADMIN_USER, groups: [ADMIN_GROUP, "system:authenticated"] };
}

export function nodeIdentity(name: string): Identity {
  return {
    user: `system:node:${name}`,
    groups: [NODES_GROUP, "system:authenticated"],
    node: name,
  };
}

export function adminTokenPath(dataDir: string): string {
  return join(credDir(dataDir), "admin-token");
}

/** The admin bearer token (created on first use, 0600), as kubeconfigs carry it. */
export async function ensureAdminToken(dataDir: string): Promise<string> {
  const path = adminTokenPath(dataDir);
  const have = (await readTextIfExists(path))?.trim();
  if (have) return have;
  const token = `weft-admin:${randomSecret(32)}`;
  await writeFileAtomic(path, token + "\n", { mode: 0o600 });
  return token;
}

/** The credential of `Authorization: Bearer <credential>`, or null. */
export function bearerOf(req: Request): string | null {
  const h = req.headers.get("authorization");
  const m = h ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m ? m[1] : null;
}

/** `Authorization: Basic` user and password, or null. */
export function basicOf(
  req: Request,
): { user: string; password: string } | null {
  const h = req.headers.get("authorization");
  const m = h ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h) : null;
  if (!m) return null;
  let text: string;
  try {
    text = atob(m[1]);
  } catch {
    return null;
  }
  const i = text.indexOf(":");
  return i < 0 ? null : { user: text.slice(0, i), password: text.slice(i + 1) };
}

/** Whether `presented` is the token in `full` or its secret. */
export function matchesToken(
  presented: string,
  full: string | null,
  secret: string | null,
): boolean {
  if (!full || !secret) return false;
  return constantTimeEqual(presented, full) ||
    constantTimeEqual(presented, secret);
}

interface TokenPair {
  full: string | null;
  secret: string | null;
}

function tokenPair(text: string | null): TokenPair {
  const full = text?.trim() || null;
  return { full, secret: full ? parseToken(full).password : null };
}

export function createAuthenticator(opts: AuthenticatorOptions): Authenticate {
  const creds = nodeCredentials(opts.dataDir);
  const admin = new FileCache(
    adminTokenPath(opts.dataDir),
    (t) => t?.trim() || null,
    opts.recheckMs,
  );
  const server = new FileCache(
    join(opts.dataDir, "server", "token"),
    tokenPair,
    opts.recheckMs,
  );
  const metrics = new FileCache(
    metricsTokenPath(opts.dataDir),
    (t) => t?.trim() || null,
    opts.recheckMs,
  );
  return async (req) => {
    const bearer = bearerOf(req);
    if (!bearer) return null;
    if (bearer.startsWith(METRICS_TOKEN_PREFIX)) {
      const token = await metrics.get();
      return token && constantTimeEqual(bearer, token)
        ? monitoringIdentity()
        : null;
    }
    if (bearer.startsWith("weft-node:")) {
      const node = await creds.verifyIdentity(bearer);
      return node
        ? { ...nodeIdentity(node.name), revoked: node.revoked }
        : null;
    }
    const adminToken = await admin.get();
    if (adminToken && constantTimeEqual(bearer, adminToken)) {
      return adminIdentity();
    }
    const { full, secret } = await server.get();
    if (matchesToken(bearer, full, secret)) return adminIdentity();
    return null;
  };
}
