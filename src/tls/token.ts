// Join tokens in K3s's format: `K10<sha256 hex of the CA PEM>::<user>:<secret>`.
// The server keeps `<data-dir>/server/token` (user `server`) and
// `<data-dir>/server/agent-token` (user `node`).

import { encodeHex } from "../util/encoding.ts";
import { readTextIfExists, writeFileAtomic } from "../util/fs.ts";

export const TOKEN_PREFIX = "K10";

export class TokenError extends Error {
  override name = "TokenError";
}

export interface ParsedToken {
  /** SHA-256 hex of the CA bundle, when the token pins one. */
  caHash?: string;
  /** "server", "node", or undefined for a bare secret. */
  username?: string;
  password: string;
}

/** SHA-256 hex of the CA PEM bytes (the file as written, not re-encoded). */
export async function caHashOf(pem: string | Uint8Array): Promise<string> {
  const bytes = typeof pem === "string" ? new TextEncoder().encode(pem) : pem;
  return encodeHex(
    new Uint8Array(
      await crypto.subtle.digest("SHA-256", new Uint8Array(bytes)),
    ),
  );
}

/**
 * Parses a token: the full form `K10<hash>::<user>:<secret>`, the form
 * without a user `K10<hash>::<secret>`, `K10:::<secret>` (no hash), or a bare
 * secret.
 */
export function parseToken(text: string): ParsedToken {
  const t = text.trim();
  if (t === "") throw new TokenError("the token is empty");
  if (/\s/.test(t)) throw new TokenError("the token contains whitespace");
  if (!t.startsWith(TOKEN_PREFIX) || !t.includes("::")) {
    return { password: t };
  }
  const sep = t.indexOf("::");
  const hash = t.slice(TOKEN_PREFIX.length, sep);
  const rest = t.slice(sep + 2);
  if (hash !== "" && !/^[0-9a-f]{64}$/.test(hash)) {
    throw new TokenError(
      `the token's CA hash ${
        JSON.stringify(hash)
      } is not 64 lowercase hex characters; copy the token again from <data-dir>/server/token or agent-token`,
    );
  }
  const colon = rest.indexOf(":");
  const out: ParsedToken = {
    password: colon < 0 ? rest : rest.slice(colon + 1),
  };
  if (colon > 0) out.username = rest.slice(0, colon);
  if (hash) out.caHash = hash;
  if (out.password === "") throw new TokenError("the token has no secret");
  return out;
}

export function formatToken(
  caHash: string,
  username: string,
  password: string,
): string {
  return `${TOKEN_PREFIX}${caHash}::${username}:${password}`;
}

export function randomSecret(bytes = 16): string {
  return encodeHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

/**
 * Makes sure `path` holds a full token for `username` pinned to `caHash`.
 * The secret is, in order: `given` (a bare secret or a token), the one
 * already in the file, a new random one. Returns the full token.
 */
export async function ensureTokenFile(
  path: string,
  username: string,
  caHash: string,
  given?: string,
): Promise<string> {
  let secret: string | undefined;
  if (given) {
    const p = parseToken(given);
    if (p.caHash && p.caHash !== caHash) {
      throw new TokenError(
        `the given ${username} token pins CA hash ${p.caHash}, but this server's CA hashes to ${caHash}`,
      );
    }
    if (p.username && p.username !== username) {
      throw new TokenError(
        `the given token is for user ${JSON.stringify(p.username)}, expected ${
          JSON.stringify(username)
        }`,
      );
    }
    secret = p.password;
  }
  const existing = await readTextIfExists(path);
  if (!secret && existing?.trim()) secret = parseToken(existing).password;
  secret ??= randomSecret();
  const token = formatToken(caHash, username, secret);
  if (existing?.trim() !== token) {
    await writeFileAtomic(path, token + "\n", { mode: 0o600 });
  }
  return token;
}
