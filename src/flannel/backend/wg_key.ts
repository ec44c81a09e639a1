// WireGuard keys: Curve25519 (X25519 through WebCrypto), base64 as `wg`
// prints them, hex on the UAPI. The node's private key lives in a 0400 file
// (flannel's /run/flannel/wgkey) and is generated when missing.

import { FlannelError } from "../errors.ts";
import { decodeHex, encodeBase64, encodeHex } from "../../util/encoding.ts";

export interface WgKeys {
  /** base64 private key (what the key file holds). */
  privateKey: string;
  /** base64 public key (published in backend-data). */
  publicKey: string;
}

// PKCS#8 wrapping of a raw X25519 private key (RFC 8410).
const PKCS8_PREFIX = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
]);

/** The 32 bytes of a base64 WireGuard key; TypeError when it is not one. */
export function keyBytes(text: string, what = "key"): Uint8Array {
  let raw: string;
  try {
    raw = atob(text.trim());
  } catch {
    throw new TypeError(`${what} is not base64: ${JSON.stringify(text)}`);
  }
  if (raw.length !== 32) {
    throw new TypeError(
      `${what} must be 32 bytes of base64 (44 characters), got ${raw.length} bytes`,
    );
  }
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** base64 key -> the hex form the UAPI speaks. */
export function keyHex(text: string, what = "key"): string {
  return encodeHex(keyBytes(text, what));
}

/** hex (UAPI) -> base64. */
export function hexKey(hex: string): string {
  if (!/^[0-9a-f]{64}$/i.test(hex)) {
    throw new TypeError(`not a hex WireGuard key: ${JSON.stringify(hex)}`);
  }
  return encodeBase64(decodeHex(hex));
}

/** The public key of a base64 private key. */
export async function publicKeyOf(privateKey: string): Promise<string> {
  const raw = keyBytes(privateKey, "private key");
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(raw, 16);
  const key = await crypto.subtle.importKey(
    "pkcs8",
    pkcs8,
    { name: "X25519" },
    true,
    ["deriveBits"],
  );
  const jwk = await crypto.subtle.exportKey("jwk", key);
  if (!jwk.x) throw new FlannelError("X25519 key export gave no public part");
  return encodeBase64(
    Uint8Array.from(
      atob(jwk.x.replaceAll("-", "+").replaceAll("_", "/") + "="),
      (c) => c.charCodeAt(0),
    ),
  );
}

/** A fresh, clamped private key (base64), as `wg genkey` makes one. */
export function generatePrivateKey(): string {
  const k = crypto.getRandomValues(new Uint8Array(32));
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return encodeBase64(k);
}

/**
 * The node's keys from `path`, generating and writing the file (mode 0400,
 * parent 0755) when it does not exist. A malformed file is an error, never
 * silently replaced: peers know the public key it gives.
 */
export async function loadOrCreateKeys(path: string): Promise<WgKeys> {
  let text: string | null = null;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new FlannelError(
        `cannot read WireGuard key ${path}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  if (text !== null) {
    try {
      keyBytes(text, "private key");
    } catch (e) {
      throw new FlannelError(
        `${path}: ${(e as Error).message}; remove it to generate a new key`,
        { cause: e },
      );
    }
    const privateKey = text.trim();
    return { privateKey, publicKey: await publicKeyOf(privateKey) };
  }
  const privateKey = generatePrivateKey();
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    await Deno.writeTextFile(tmp, `${privateKey}\n`, { mode: 0o400 });
    await Deno.chmod(tmp, 0o400);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new FlannelError(
      `cannot write WireGuard key ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return { privateKey, publicKey: await publicKeyOf(privateKey) };
}
