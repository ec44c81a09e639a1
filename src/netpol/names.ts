// Short, stable names for chains and sets: a prefix and 16 hex digits of a
// 64-bit FNV-1a-style hash (two 32-bit lanes), so any policy name fits nft's
// name limits and the same input always gives the same name.

import type { NetworkPolicyPeer } from "./types.ts";

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

/** JSON with object keys sorted, so equal selectors give equal text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${
      Object.keys(o).sort().filter((k) => o[k] !== undefined)
        .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(v);
}

/** The identity of a selector peer: its selectors and, without a
 * namespace selector, the policy's namespace it is confined to. */
export function peerId(p: NetworkPolicyPeer, policyNs: string): string {
  return shortHash(canonical({
    ns: p.namespaceSelector ? null : policyNs,
    nsSel: p.namespaceSelector ?? null,
    podSel: p.podSelector ?? null,
  }));
}
