// The nesting depth of JSON text, found without parsing or recursion: code
// that walks parsed JSON recursively (clone, merge, validate) refuses input
// nested deeper than it can walk before parsing it.

/**
 * The deepest nesting of arrays and objects in `text` (strings skipped);
 * stops scanning once the depth exceeds `limit`.
 */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return max;
}
