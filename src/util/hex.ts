// Hex encoding of bytes (lowercase) and its inverse.

export function encodeHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function decodeHex(text: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/i.test(text)) {
    throw new TypeError(`invalid hex ${JSON.stringify(text)}`);
  }
  return Uint8Array.from(
    text.match(/../g) ?? [],
    (h) => parseInt(h, 16),
  );
}
