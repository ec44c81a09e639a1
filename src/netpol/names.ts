// Short, stable names for chains and sets: a prefix and 16 hex digits of a
// 64-bit FNV-1a-style hash (two 32-bit lanes), so any policy name fits nft's
// name limits and the same input always gives the same name.

export function shortHash(input: string): string {
  let a = 0x811c9dc5, b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
  }
  const hex = (x: number) => (x >>> 0).toString(16).padStart(8, "0");
  return hex(a) + hex(b);
}
