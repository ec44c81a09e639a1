// The nftables state of weft's own table `inet weft-netpol`: named sets,
// verdict maps and regular chains (the base chains are fixed), the script
// that loads it whole, and the ops that turn one state into another.

/** The table weft owns; nothing else is ever touched. */
export const TABLE = "inet weft-netpol";
export const TABLE_FAMILY = "inet";
export const TABLE_NAME = "weft-netpol";

export interface SetDef {
  /** nft type, e.g. "ipv4_addr" or "ipv4_addr . inet_proto . inet_service". */
  type: string;
  interval: boolean;
  elements: Set<string>;
}

export interface MapDef {
  /** Key type; values are verdicts. */
  type: string;
  /** key -> verdict ("goto gi-..."). */
  elements: Map<string, string>;
}

export interface NetpolState {
  sets: Map<string, SetDef>;
  maps: Map<string, MapDef>;
  /** Regular (non-base) chains and their rules. */
  chains: Map<string, string[]>;
}

export function emptyState(): NetpolState {
  return { sets: new Map(), maps: new Map(), chains: new Map() };
}

// Egress is judged first (priority -1): an accept there ends only that base
// chain, so ingress (priority 0) still judges the same packet; a drop in
// either is final. Replies and neighbour discovery pass both.
const COMMON = [
  "ct state established,related accept",
  "meta l4proto ipv6-icmp icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept",
];
const BASE_CHAINS: [string, number, string[]][] = [
  ["egress", -1, [
    ...COMMON,
    "ip saddr vmap @egress4",
    "ip6 saddr vmap @egress6",
  ]],
  ["ingress", 0, [
    ...COMMON,
    "ip saddr @node4 accept",
    "ip6 saddr @node6 accept",
    "ip daddr vmap @ingress4",
    "ip6 daddr vmap @ingress6",
  ]],
];

const setDecl = (name: string, s: SetDef) =>
  `add set ${TABLE} ${name} { type ${s.type};${
    s.interval ? " flags interval;" : ""
  } }`;
const mapDecl = (name: string, m: MapDef) =>
  `add map ${TABLE} ${name} { type ${m.type} : verdict; }`;
const elems = (verb: "add" | "delete", name: string, items: string[]) =>
  items.length === 0
    ? []
    : [`${verb} element ${TABLE} ${name} { ${items.join(", ")} }`];
const mapItems = (m: Map<string, string>, keys?: Iterable<string>) =>
  [...(keys ?? m.keys())].map((k) => `${k} : ${m.get(k)}`);

/** The script that replaces the table with `s`, atomically (one transaction). */
export function fullScript(s: NetpolState): string {
  const ops = [
    `add table ${TABLE}`,
    `delete table ${TABLE}`,
    `add table ${TABLE}`,
  ];
  for (const [n, d] of s.sets) {
    ops.push(setDecl(n, d), ...elems("add", n, [...d.elements]));
  }
  for (const n of s.chains.keys()) ops.push(`add chain ${TABLE} ${n}`);
  for (const [n, m] of s.maps) {
    ops.push(mapDecl(n, m), ...elems("add", n, mapItems(m.elements)));
  }
  for (const [n, rules] of s.chains) {
    for (const r of rules) ops.push(`add rule ${TABLE} ${n} ${r}`);
  }
  for (const [n, prio, rules] of BASE_CHAINS) {
    ops.push(
      `add chain ${TABLE} ${n} { type filter hook forward priority ${prio}; policy accept; }`,
      ...rules.map((r) => `add rule ${TABLE} ${n} ${r}`),
    );
  }
  return ops.join("\n") + "\n";
}

const sameList = (a: string[], b: string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

function minus<T>(a: Iterable<T>, b: { has(x: T): boolean }): T[] {
  return [...a].filter((x) => !b.has(x));
}

/**
 * The ops (one nft command each) that turn `cur` into `want`, ordered so
 * that every reference exists when it is made and nothing referenced is
 * deleted: new sets and elements, new chains, changed chains' rules, map
 * elements, removed elements, removed chains, removed sets.
 */
export function diffOps(cur: NetpolState, want: NetpolState): string[] {
  const ops: string[] = [];
  const late: string[] = [];
  for (const [n, d] of want.sets) {
    const old = cur.sets.get(n);
    if (old === d) continue;
    if (old && (old.type !== d.type || old.interval !== d.interval)) {
      throw new RangeError(`set ${n} changed type; names must encode types`);
    }
    if (!old) ops.push(setDecl(n, d));
    ops.push(...elems("add", n, minus(d.elements, old?.elements ?? new Set())));
    if (old) late.push(...elems("delete", n, minus(old.elements, d.elements)));
  }
  for (const [n, m] of want.maps) {
    if (!cur.maps.has(n)) ops.push(mapDecl(n, m));
  }
  const newChains = minus(want.chains.keys(), cur.chains);
  for (const n of newChains) ops.push(`add chain ${TABLE} ${n}`);
  for (const [n, rules] of want.chains) {
    const old = cur.chains.get(n);
    if (old === rules || (old && sameList(old, rules))) continue;
    if (old) ops.push(`flush chain ${TABLE} ${n}`);
    for (const r of rules) ops.push(`add rule ${TABLE} ${n} ${r}`);
  }
  for (const [n, { elements: m }] of want.maps) {
    const old = cur.maps.get(n)?.elements ?? new Map<string, string>();
    const changed = [...m.keys()].filter((k) =>
      old.has(k) && old.get(k) !== m.get(k)
    );
    const gone = minus(old.keys(), m);
    ops.push(...elems("delete", n, mapItems(old, [...gone, ...changed])));
    ops.push(...elems("add", n, mapItems(m, minus(m.keys(), old))));
    ops.push(...elems("add", n, mapItems(m, changed)));
  }
  ops.push(...late);
  const goneChains = minus(cur.chains.keys(), want.chains);
  for (const n of goneChains) ops.push(`flush chain ${TABLE} ${n}`);
  for (const n of goneChains) ops.push(`delete chain ${TABLE} ${n}`);
  for (const n of minus(cur.maps.keys(), want.maps)) {
    ops.push(`delete map ${TABLE} ${n}`);
  }
  for (const n of minus(cur.sets.keys(), want.sets)) {
    ops.push(`delete set ${TABLE} ${n}`);
  }
  return ops;
}
