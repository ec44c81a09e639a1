// An agent joining the cluster: fetch the server's CA and check it against
// the token's hash, then trust only that CA; trade the join token, node name
// and node password for a per-node bearer token; keep that credential and
// reuse it while the server still accepts it.

import { join } from "node:path";
// The token's part of tls/ only: tls/mod.ts also carries the server's PKI
// (certificate building, DER), which a joining agent never runs.
import { caHashOf, parseToken, randomSecret } from "../tls/token.ts";
import { readTextIfExists, writeFileAtomic } from "../util/fs.ts";
import { httpsFetchOnce } from "./_https.ts";
import type { Balancer } from "./balancer.ts";
import { KubeClient } from "./client.ts";
import { errorFromResponse } from "./errors.ts";

export const DEFAULT_PASSWORD_FILE = "/etc/weft/node/password";

export class JoinError extends Error {
  override name = "JoinError";
}

export interface JoinOptions {
  /** https://server:6443 */
  server: string;
  /** `K10<ca hash>::node:<secret>` (or the server token). */
  token: string;
  nodeName: string;
  /** Default /etc/weft/node/password (created, 0600, when missing). */
  passwordFile?: string;
  /** The agent's data dir: the credential goes to `<dataDir>/agent/cred/`. */
  dataDir: string;
  log?: (msg: string) => void;
  /** Several servers: the client follows this balancer (see balancer.ts). */
  balancer?: Balancer;
}

export interface JoinResult {
  client: KubeClient;
  caPem: string;
  /** The node's bearer token (`system:node:<nodeName>`). */
  token: string;
  nodeName: string;
  /** Where the CA was saved: `<dataDir>/agent/server-ca.crt`. */
  caFile: string;
}

interface SavedCredential {
  server: string;
  nodeName: string;
  caHash: string;
  token: string;
}

function trimServer(server: string): string {
  return server.replace(/\/+$/, "");
}

/** Reads the node password, creating 16 random bytes as hex when absent. */
export async function ensureNodePassword(path: string): Promise<string> {
  const have = (await readTextIfExists(path))?.trim();
  if (have) return have;
  const pw = randomSecret(16);
  await writeFileAtomic(path, pw + "\n", { mode: 0o600 });
  return pw;
}

/** GETs /cacerts without verification, checks the hash, then again verified. */
export async function fetchVerifiedCA(
  server: string,
  caHash?: string,
): Promise<string> {
  if (!/^https:\/\//i.test(server)) {
    throw new JoinError(
      `the server URL ${
        JSON.stringify(server)
      } must start with https:// (e.g. https://192.0.2.1:6443)`,
    );
  }
  const url = `${trimServer(server)}/cacerts`;
  let res: Response;
  try {
    res = await httpsFetchOnce(url, {}, { insecure: true });
  } catch (e) {
    throw new JoinError(`cannot reach ${url}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (!res.ok) {
    throw new JoinError(
      `${url} answered ${res.status}: ${(await res.text()).trim()}`,
    );
  }
  const caPem = await res.text();
  const got = await caHashOf(caPem);
  if (caHash && got !== caHash) {
    throw new JoinError(
      `token CA hash does not match the server's CA (${url}): the token pins ${caHash}, the server's CA hashes to ${got}. ` +
        `The token belongs to another cluster, or the server's CA was re-created: copy the current token from <data-dir>/server/agent-token on the server`,
    );
  }
  // From here on the CA is the only trust anchor (node:https's `ca`
  // replaces the default roots): a certificate from any other CA, public or
  // in DENO_CERT, is refused before a byte of a request is sent.
  let again: string;
  try {
    const res2 = await httpsFetchOnce(url, {}, { ca: caPem });
    again = await res2.text();
  } catch (e) {
    throw new JoinError(
      `the server's certificate does not verify against its own CA from ${url}, or does not name the address you used (the server can add it with --tls-san): ${
        (e as Error).message
      }`,
      { cause: e },
    );
  }
  if (again !== caPem) {
    throw new JoinError(`${url} changed between two reads; try again`);
  }
  return caPem;
}

async function stillValid(
  client: KubeClient,
  nodeName: string,
): Promise<boolean> {
  const res = await client.raw(
    "GET",
    `/api/v1/nodes/${encodeURIComponent(nodeName)}`,
  );
  await res.body?.cancel();
  return res.status !== 401;
}

async function requestCredential(
  server: string,
  caPem: string,
  user: string,
  secret: string,
  nodeName: string,
  password: string,
): Promise<string> {
  const url = `${trimServer(server)}/v1-weft/node-credential`;
  let res: Response;
  try {
    res = await httpsFetchOnce(url, {
      method: "POST",
      headers: new Headers({
        authorization: `Basic ${btoa(`${user}:${secret}`)}`,
        "weft-node-name": nodeName,
        "weft-node-password": password,
      }),
    }, { ca: caPem });
  } catch (e) {
    throw new JoinError(`cannot reach ${url}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (!res.ok) {
    const e = await errorFromResponse(res);
    const what = res.status === 401
      ? "the server rejected the join token"
      : "the server refused the node credential";
    throw new JoinError(`${what} (${res.status}): ${e.message}`, { cause: e });
  }
  const body = await res.json() as { token?: unknown };
  if (typeof body.token !== "string") {
    throw new JoinError("the node-credential answer holds no token");
  }
  return body.token;
}

function parseSaved(text: string): SavedCredential | null {
  try {
    const v = JSON.parse(text);
    return typeof v?.token === "string" ? v as SavedCredential : null;
  } catch {
    return null;
  }
}

export async function joinCluster(opts: JoinOptions): Promise<JoinResult> {
  const log = opts.log ?? (() => {});
  const parsed = parseToken(opts.token);
  if (!parsed.caHash) {
    log(
      "the token pins no CA hash: trusting the CA the server presents at /cacerts",
    );
  }
  const caPem = await fetchVerifiedCA(opts.server, parsed.caHash);
  const caHash = await caHashOf(caPem);
  const agentDir = join(opts.dataDir, "agent");
  const caFile = join(agentDir, "server-ca.crt");
  if ((await readTextIfExists(caFile)) !== caPem) {
    await writeFileAtomic(caFile, caPem);
  }
  const credFile = join(agentDir, "cred", "node-token.json");
  const server = trimServer(opts.server);
  const saved = await readTextIfExists(credFile);
  const prev = saved ? parseSaved(saved) : null;
  if (prev) {
    if (
      prev.server === server && prev.nodeName === opts.nodeName &&
      prev.caHash === caHash
    ) {
      const client = new KubeClient({
        server,
        caPem,
        token: prev.token,
        balancer: opts.balancer,
      });
      if (await stillValid(client, opts.nodeName)) {
        log(`reusing the node credential of ${opts.nodeName}`);
        return {
          client,
          caPem,
          token: prev.token,
          nodeName: opts.nodeName,
          caFile,
        };
      }
      client.close();
    }
  }
  const password = await ensureNodePassword(
    opts.passwordFile ?? DEFAULT_PASSWORD_FILE,
  );
  const token = await requestCredential(
    server,
    caPem,
    parsed.username ?? "node",
    parsed.password,
    opts.nodeName,
    password,
  );
  const cred: SavedCredential = {
    server,
    nodeName: opts.nodeName,
    caHash,
    token,
  };
  await writeFileAtomic(credFile, JSON.stringify(cred) + "\n", { mode: 0o600 });
  log(`joined ${server} as system:node:${opts.nodeName}`);
  return {
    client: new KubeClient({ server, caPem, token, balancer: opts.balancer }),
    caPem,
    token,
    nodeName: opts.nodeName,
    caFile,
  };
}
