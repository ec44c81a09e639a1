// Hex and base64 of bytes, without a dependency. No imports: safe on the
// CNI start path.

/** Lowercase hex. */
export function encodeHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex (either case) to bytes; TypeError when it is not hex. */
export function decodeHex(text: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/i.test(text)) {
    throw new TypeError(`invalid hex ${JSON.stringify(text)}`);
  }
  return Uint8Array.from(
    text.match(/../g) ?? [],
    (h) => parseInt(h, 16),
  );
}

/** Standard base64, padded. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Base64 in the standard or URL alphabet, padding optional; throws a
 * DOMException (InvalidCharacterError) when it is not base64. With
 * `strict`, the standard alphabet only (what Go's encoding/json writes for a
 * []byte): the URL alphabet is rejected too. */
export function decodeBase64(
  text: string,
  opts: { strict?: boolean } = {},
): Uint8Array<ArrayBuffer> {
  const std = opts.strict ? text : text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(
    opts.strict ? std : std.padEnd(Math.ceil(std.length / 4) * 4, "="),
  );
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
