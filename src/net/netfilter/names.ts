// Chain names derived from a hash, as the reference plugins make them:
// prefix + the first N hex digits of sha512(input).

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
  const hex = Array.from(new Uint8Array(digest))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  return prefix + hex.slice(0, hexLen);
}
