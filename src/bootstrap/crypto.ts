// Bootstrap data at rest in a shared datastore is sealed with a key derived
// from the cluster token, as K3s does: PBKDF2-SHA256 over the token's secret
// with a random salt, then AES-256-GCM. A wrong token fails the GCM tag.

import { decodeBase64, encodeBase64, encodeHex } from "../util/encoding.ts";

const ITERATIONS = 100_000;
const enc = new TextEncoder();

/** The bootstrap data could not be opened with this token. */
export class WrongToken extends Error {
  override name = "WrongToken";
}

interface Sealed {
  v: 1;
  salt: string;
  iv: string;
  data: string;
}

async function keyOf(
  secret: string,
  salt: Uint8Array<ArrayBuffer>,
): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    "PBKDF2",
    false,
    ["deriveKey"],
  );
  return await crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: ITERATIONS },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** Encrypts `plain` with a key derived from `secret`; JSON text out. */
export async function seal(secret: string, plain: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv },
      await keyOf(secret, salt),
      enc.encode(plain),
    ),
  );
  const out: Sealed = {
    v: 1,
    salt: encodeBase64(salt),
    iv: encodeBase64(iv),
    data: encodeBase64(data),
  };
  return JSON.stringify(out);
}

/** Decrypts what seal() wrote; WrongToken when `secret` is not the one. */
export async function open(secret: string, sealed: string): Promise<string> {
  let s: Sealed;
  try {
    s = JSON.parse(sealed) as Sealed;
    if (s.v !== 1) throw new Error(`version ${s.v}`);
  } catch (e) {
    throw new WrongToken(
      `the bootstrap data in the datastore is not readable: ${
        (e as Error).message
      }`,
    );
  }
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: decodeBase64(s.iv, { strict: true }) },
      await keyOf(secret, decodeBase64(s.salt, { strict: true })),
      decodeBase64(s.data, { strict: true }),
    );
    return new TextDecoder().decode(plain);
  } catch {
    throw new WrongToken(
      "the bootstrap data in the datastore is encrypted with a different token: start this server with the cluster's --token",
    );
  }
}

/** The storage key of a token's bootstrap data: /bootstrap/<12 hex>, as
 * K3s names it after a hash of the token. */
export async function bootstrapKey(secret: string): Promise<string> {
  const d = new Uint8Array(
    await crypto.subtle.digest("SHA-256", enc.encode(secret)),
  );
  const hex = encodeHex(d.slice(0, 6));
  return `/bootstrap/${hex}`;
}
