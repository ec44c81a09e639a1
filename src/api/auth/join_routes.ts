// The join endpoints on the server's API port: `GET /cacerts` and `GET /ping`
// without authentication, and `POST /v1-weft/node-credential`, where an agent
// holding the join token trades its node name and node password for a
// per-node bearer token (`system:node:<name>`).

import type { Hono } from "hono";
import { join } from "node:path";
import { parseToken } from "../../tls/mod.ts";
import { readTextIfExists } from "../../util/fs.ts";
import { basicOf, bearerOf, matchesToken } from "./authenticator.ts";
import { nodeCredentials, NodePasswordRejected } from "./credentials.ts";
import { ApiError, type StatusReason } from "../errors.ts";

export const NODE_NAME_HEADER = "Weft-Node-Name";
export const NODE_PASSWORD_HEADER = "Weft-Node-Password";
export const NODE_CREDENTIAL_PATH = "/v1-weft/node-credential";

export interface JoinDeps {
  dataDir: string;
  /** The CA bundle served at /cacerts; default: `<data-dir>/server/tls/server-ca.crt`. */
  caPem?: string;
}

/** What `POST /v1-weft/node-credential` answers. */
export interface NodeCredential {
  kind: "NodeCredential";
  apiVersion: "weft.io/v1";
  nodeName: string;
  user: string;
  token: string;
}

const NODE_NAME =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function status(
  code: number,
  reason: StatusReason,
  message: string,
): Response {
  return new ApiError(code, reason, message).toResponse();
}

/** Whether the request carries the agent (node) or server join token. */
async function hasJoinToken(req: Request, dataDir: string): Promise<boolean> {
  const files = { node: "agent-token", server: "token" } as const;
  const basic = basicOf(req);
  const bearer = bearerOf(req);
  for (const [user, file] of Object.entries(files)) {
    const full =
      (await readTextIfExists(join(dataDir, "server", file)))?.trim() ?? null;
    if (!full) continue;
    const secret = parseToken(full).password;
    if (
      basic && basic.user === user && matchesToken(basic.password, full, secret)
    ) {
      return true;
    }
    if (bearer && matchesToken(bearer, full, secret)) return true;
  }
  return false;
}

export function joinRoutes(app: Hono, deps: JoinDeps): void {
  const creds = nodeCredentials(deps.dataDir);
  const caFile = join(deps.dataDir, "server", "tls", "server-ca.crt");

  app.get("/cacerts", async () => {
    const pem = deps.caPem ?? await readTextIfExists(caFile);
    if (!pem) {
      return status(
        503,
        "ServiceUnavailable",
        "the cluster CA does not exist yet",
      );
    }
    return new Response(pem, {
      headers: { "content-type": "application/x-pem-file" },
    });
  });

  app.get("/ping", (c) => c.text("pong"));

  app.post(NODE_CREDENTIAL_PATH, async (c) => {
    if (!await hasJoinToken(c.req.raw, deps.dataDir)) {
      return status(
        401,
        "Unauthorized",
        "a valid join token (node:<secret> or server:<secret>) is required",
      );
    }
    const name = c.req.header(NODE_NAME_HEADER) ?? "";
    const password = c.req.header(NODE_PASSWORD_HEADER) ?? "";
    if (!NODE_NAME.test(name) || name.length > 253) {
      return status(
        400,
        "BadRequest",
        `header ${NODE_NAME_HEADER} must be a node name (an RFC 1123 subdomain), got ${
          JSON.stringify(name)
        }`,
      );
    }
    if (password.length < 16) {
      return status(
        400,
        "BadRequest",
        `header ${NODE_PASSWORD_HEADER} must hold the node password (at least 16 characters)`,
      );
    }
    try {
      const token = await creds.issue(name, password);
      const body: NodeCredential = {
        kind: "NodeCredential",
        apiVersion: "weft.io/v1",
        nodeName: name,
        user: `system:node:${name}`,
        token,
      };
      return c.json(body);
    } catch (e) {
      if (e instanceof NodePasswordRejected) {
        return status(403, "Forbidden", e.message);
      }
      throw e;
    }
  });
}
