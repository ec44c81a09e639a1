// Chain names derived from a hash, as the reference plugins make them:
// prefix + the first N hex digits of sha512(input).

import { encodeHex } from "../../util/encoding.ts";

/** `prefix` + the first `hexLen` hex digits of sha512(`input`). */
export async function hashedChainName(
  prefix: string,
  input: string,
  hexLen: number,
): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-512",
    new TextEncoder().encode(input),
  );
  const hex = encodeHex(new Uint8Array(digest));
  return prefix + hex.slice(0, hexLen);
}
