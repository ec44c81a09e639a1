// Address ranges of ipBlocks: a CIDR minus its excepts, and the union of
// several, as disjoint [first, last] ranges an nft interval set takes.

import { CIDR, type Family, IP } from "../net/mod.ts";

export interface Range {
  family: Family;
  first: bigint;
  last: bigint;
}

/** `cidr` without the `except` CIDRs (same family; others are ignored). */
export function cidrMinus(cidr: CIDR, except: CIDR[]): Range[] {
  const net = cidr.network();
  let out: Range[] = [{
    family: net.family,
    first: net.first().value,
    last: net.last().value,
  }];
  for (const e of except) {
    if (e.family !== net.family) continue;
    const ef = e.first().value, el = e.last().value;
    out = out.flatMap((r) => {
      if (el < r.first || ef > r.last) return [r];
      const parts: Range[] = [];
      if (ef > r.first) parts.push({ ...r, last: ef - 1n });
      if (el < r.last) parts.push({ ...r, first: el + 1n });
      return parts;
    });
  }
  return out;
}

/** Sorted, disjoint, merged ranges of one family. */
export function unionRanges(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) =>
    a.first < b.first ? -1 : a.first > b.first ? 1 : 0
  );
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.first <= last.last + 1n) {
      if (r.last > last.last) last.last = r.last;
    } else out.push({ ...r });
  }
  return out;
}

/** A range as an nft set element: "a" for one address, else "a-b". */
export function rangeElement(r: Range): string {
  const a = IP.of(r.family, r.first).toString();
  return r.first === r.last ? a : `${a}-${IP.of(r.family, r.last)}`;
}
