// A range of a range set: subnet, first and last allocatable address and
// the gateway (skipped by allocation), with the reference's defaults.

import { CIDR, IP } from "../../net/mod.ts";
import { CniError, ErrorCode } from "../plugin.ts";

export interface Range {
  subnet: CIDR;
  start: IP;
  end: IP;
  gateway: IP;
}

/** The outer list of `ranges`: one IP is allocated from each range set. */
export type RangeSet = Range[];

function invalid(msg: string): CniError {
  return new CniError(ErrorCode.InvalidNetworkConfig, msg);
}

function ipField(v: unknown, what: string): IP | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const ip = typeof v === "string" ? IP.tryParse(v) : null;
  if (!ip) throw invalid(`invalid ${what} ${JSON.stringify(v)}`);
  return ip;
}

/** Builds a range from its JSON form, filling the reference's defaults. */
export function parseRange(raw: unknown): Range {
  if (typeof raw !== "object" || raw === null) {
    throw invalid(`invalid range ${JSON.stringify(raw)}`);
  }
  const r = raw as Record<string, unknown>;
  const subnet = typeof r.subnet === "string" ? CIDR.tryParse(r.subnet) : null;
  if (!subnet) {
    throw invalid(`invalid subnet ${JSON.stringify(r.subnet ?? null)}`);
  }
  if (subnet.prefix > subnet.ip.bits - 2) {
    throw invalid(`network ${subnet} too small to allocate from`);
  }
  if (!subnet.network().equals(subnet)) {
    throw invalid(
      `network has host bits set: for a subnet mask of length ${subnet.prefix} the network address is ${subnet.first()}`,
    );
  }
  const first = subnet.first().add(1);
  const last = subnet.family === 4 ? subnet.last().add(-1) : subnet.last();
  const start = ipField(r.rangeStart, "rangeStart") ?? first;
  const end = ipField(r.rangeEnd, "rangeEnd") ?? last;
  const gateway = ipField(r.gateway, "gateway") ?? first;
  for (
    const [what, ip] of [["rangeStart", start], ["rangeEnd", end]] as const
  ) {
    if (!subnet.contains(ip)) {
      throw invalid(`${what} ${ip} not in network ${subnet}`);
    }
  }
  if (start.compare(end) > 0) {
    throw invalid(`rangeStart ${start} is after rangeEnd ${end}`);
  }
  return { subnet, start, end, gateway };
}

export function rangeContains(r: Range, ip: IP): boolean {
  return r.subnet.contains(ip) && r.start.compare(ip) <= 0 &&
    ip.compare(r.end) <= 0;
}

export function rangeSetContains(set: RangeSet, ip: IP): boolean {
  return set.some((r) => rangeContains(r, ip));
}

export function rangeSetString(set: RangeSet): string {
  return set.map((r) => `${r.start}-${r.end}`).join(",");
}

function overlaps(a: Range, b: Range): boolean {
  if (a.subnet.family !== b.subnet.family) return false;
  return rangeContains(a, b.start) || rangeContains(a, b.end) ||
    rangeContains(b, a.start) || rangeContains(b, a.end);
}

/** Checks one set (one family, no overlap) and the sets among themselves. */
export function validateRangeSets(sets: RangeSet[]): void {
  sets.forEach((set, i) => {
    if (set.length === 0) throw invalid(`range set ${i} is empty`);
    const fam = set[0].subnet.family;
    set.forEach((r, j) => {
      if (r.subnet.family !== fam) {
        throw invalid(`range set ${i}: mixed address families`);
      }
      for (const other of set.slice(j + 1)) {
        if (overlaps(r, other)) {
          throw invalid(
            `range set ${i}: subnets ${r.subnet} and ${other.subnet} overlap`,
          );
        }
      }
    });
    sets.slice(i + 1).forEach((other, k) => {
      if (set.some((a) => other.some((b) => overlaps(a, b)))) {
        throw invalid(`range set ${i} overlaps with ${i + k + 1}`);
      }
    });
  });
}
