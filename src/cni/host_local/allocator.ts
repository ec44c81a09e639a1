// Allocation within one range set, as the reference does it: round-robin
// from the IP after last_reserved_ip.<set>, skipping the gateway, wrapping
// around, across the ranges of the set in order.

import type { IP } from "../../net/mod.ts";
import { CniError, ErrorCode, type IPConfig } from "../plugin.ts";
import {
  type Range,
  rangeContains,
  type RangeSet,
  rangeSetContains,
  rangeSetString,
} from "./range.ts";
import type { DiskStore } from "./store.ts";

function fail(msg: string): CniError {
  return new CniError(ErrorCode.Internal, msg);
}

function ipConfig(r: Range, ip: IP): IPConfig {
  return { address: `${ip}/${r.subnet.prefix}`, gateway: r.gateway.toString() };
}

/** Candidate IPs of a set in allocation order, starting after `last`. */
export function* candidates(
  set: RangeSet,
  last: IP | null,
): Generator<[Range, IP]> {
  let ri = 0;
  let cur: IP | null = null;
  if (last && rangeSetContains(set, last)) {
    ri = set.findIndex((r) => rangeContains(r, last));
    cur = last;
  }
  const total = set.reduce(
    (n, r) => n + (r.end.value - r.start.value + 1n),
    0n,
  );
  for (let step = 0n; step < total; step++) {
    if (cur === null) {
      cur = set[ri].start;
    } else if (cur.equals(set[ri].end)) {
      ri = (ri + 1) % set.length;
      cur = set[ri].start;
    } else {
      cur = cur.add(1);
    }
    if (!cur.equals(set[ri].gateway)) yield [set[ri], cur];
  }
}

/** Allocates one IP of `set` for id+ifname (the store must be locked). */
export function allocate(
  store: DiskStore,
  set: RangeSet,
  setIndex: number,
  id: string,
  ifname: string,
  requested: IP | null,
): IPConfig {
  const whole = set.find((r) => r.subnet.prefix === 0);
  if (whole) {
    // The reference cannot allocate from a /0 either (it fails with "no IP
    // addresses available"): a range that is every address is refused.
    throw fail(
      `network ${whole.subnet} is every address, not a pod network: no IP addresses available in range set: ${
        rangeSetString(set)
      }`,
    );
  }
  const held = store.findByID(id, ifname).filter((ip) =>
    rangeSetContains(set, ip)
  );
  if (held.length) {
    throw fail(
      `${
        held[0]
      } has been allocated to ${id}, duplicate allocation is not allowed`,
    );
  }
  if (requested) {
    const r = set.find((r) => rangeContains(r, requested));
    if (!r) {
      throw fail(
        `requested IP address ${requested} is not in range set ${
          rangeSetString(set)
        }`,
      );
    }
    if (requested.equals(r.gateway)) {
      throw fail(`requested ip ${requested} is subnet's gateway`);
    }
    if (!store.reserve(id, ifname, requested, setIndex)) {
      throw fail(
        `requested IP address ${requested} is not available in range set ${
          rangeSetString(set)
        }`,
      );
    }
    return ipConfig(r, requested);
  }
  for (const [r, ip] of candidates(set, store.lastReserved(setIndex))) {
    if (store.reserve(id, ifname, ip, setIndex)) return ipConfig(r, ip);
  }
  throw fail(
    `no IP addresses available in range set: ${rangeSetString(set)}`,
  );
}
