// IPv4 / IPv6 addresses and CIDRs as small immutable values.
// One representation for both families: the address as a bigint.

export type Family = 4 | 6;

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

/** An IPv4 or IPv6 address. */
export class IP {
  private constructor(readonly family: Family, readonly value: bigint) {}

  static of(family: Family, value: bigint): IP {
    const max = (1n << BigInt(BITS[family])) - 1n;
    if (value < 0n || value > max) {
      throw new RangeError(`IPv${family} address out of range: ${value}`);
    }
    return new IP(family, value);
  }

  /** Parses "10.42.0.1", "fd00::1" or "::ffff:1.2.3.4"; throws TypeError. */
  static parse(text: string): IP {
    const ip = IP.tryParse(text);
    if (!ip) throw new TypeError(`invalid IP address "${text}"`);
    return ip;
  }

  static tryParse(text: string): IP | null {
    if (text.includes(":")) return parse6(text);
    const v = parse4(text);
    return v === null ? null : new IP(4, v);
  }

  static fromBytes(bytes: Uint8Array): IP {
    if (bytes.length !== 4 && bytes.length !== 16) {
      throw new RangeError(`an IP has 4 or 16 bytes, not ${bytes.length}`);
    }
    let v = 0n;
    for (const b of bytes) v = (v << 8n) | BigInt(b);
    return new IP(bytes.length === 4 ? 4 : 6, v);
  }

  get bits(): number {
    return BITS[this.family];
  }

  bytes(): Uint8Array {
    const n = this.bits / 8;
    const out = new Uint8Array(n);
    let v = this.value;
    for (let i = n - 1; i >= 0; i--) {
      out[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return out;
  }

  add(n: number | bigint): IP {
    return IP.of(this.family, this.value + BigInt(n));
  }

  equals(other: IP): boolean {
    return this.family === other.family && this.value === other.value;
  }

  compare(other: IP): number {
    if (this.family !== other.family) return this.family - other.family;
    return this.value < other.value ? -1 : this.value > other.value ? 1 : 0;
  }

  toString(): string {
    return this.family === 4 ? format4(this.value) : format6(this.value);
  }
}

/** A network: an address and a prefix length ("10.42.1.0/24"). */
export class CIDR {
  private constructor(readonly ip: IP, readonly prefix: number) {}

  static of(ip: IP, prefix: number): CIDR {
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > ip.bits) {
      throw new RangeError(
        `invalid prefix length /${prefix} for IPv${ip.family}`,
      );
    }
    return new CIDR(ip, prefix);
  }

  /** Parses "10.42.1.5/24" keeping the host part (see network()). */
  static parse(text: string): CIDR {
    const c = CIDR.tryParse(text);
    if (!c) throw new TypeError(`invalid CIDR "${text}"`);
    return c;
  }

  static tryParse(text: string): CIDR | null {
    const slash = text.indexOf("/");
    if (slash < 0) return null;
    const ip = IP.tryParse(text.slice(0, slash));
    const p = text.slice(slash + 1);
    if (!ip || !/^\d{1,3}$/.test(p) || Number(p) > ip.bits) return null;
    return new CIDR(ip, Number(p));
  }

  get family(): Family {
    return this.ip.family;
  }

  get size(): bigint {
    return 1n << BigInt(this.ip.bits - this.prefix);
  }

  get mask(): bigint {
    const bits = BigInt(this.ip.bits);
    return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(this.prefix))) - 1n);
  }

  /** The network with the host bits cleared: 10.42.1.5/24 -> 10.42.1.0/24. */
  network(): CIDR {
    return new CIDR(IP.of(this.family, this.ip.value & this.mask), this.prefix);
  }

  first(): IP {
    return IP.of(this.family, this.ip.value & this.mask);
  }

  last(): IP {
    return IP.of(this.family, (this.ip.value & this.mask) + this.size - 1n);
  }

  contains(x: IP | CIDR): boolean {
    if (x instanceof CIDR) {
      return x.prefix >= this.prefix && this.contains(x.ip);
    }
    return x.family === this.family &&
      (x.value & this.mask) === (this.ip.value & this.mask);
  }

  overlaps(other: CIDR): boolean {
    return this.contains(other.ip) || other.contains(this.ip);
  }

  /** The i-th subnet of length `prefix` inside this network. */
  subnet(prefix: number, i: bigint | number): CIDR {
    if (prefix < this.prefix || prefix > this.ip.bits) {
      throw new RangeError(`/${prefix} does not fit in ${this}`);
    }
    const count = 1n << BigInt(prefix - this.prefix);
    const idx = BigInt(i);
    if (idx < 0n || idx >= count) {
      throw new RangeError(
        `subnet index ${idx} out of range for /${prefix} in ${this}`,
      );
    }
    const base = this.first().value + (idx << BigInt(this.ip.bits - prefix));
    return new CIDR(IP.of(this.family, base), prefix);
  }

  /** Dotted netmask for IPv4 ("255.255.255.0"), hex-free form for IPv6. */
  maskString(): string {
    return IP.of(this.family, this.mask).toString();
  }

  equals(other: CIDR): boolean {
    return this.prefix === other.prefix && this.ip.equals(other.ip);
  }

  toString(): string {
    return `${this.ip}/${this.prefix}`;
  }
}

function parse4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    v = (v << 8n) | BigInt(p);
  }
  return v;
}

function parse6(text: string): IP | null {
  const pct = text.indexOf("%");
  if (pct >= 0) return null;
  let head = text;
  let tail4: bigint | null = null;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    tail4 = parse4(text.slice(lastColon + 1));
    if (tail4 === null) return null;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const dbl = head.split("::");
  if (dbl.length > 2) return null;
  const group = (s: string) => (s === "" ? [] : s.split(":"));
  const left = group(dbl[0]);
  const right = dbl.length === 2 ? group(dbl[1]) : [];
  const missing = 8 - left.length - right.length;
  if (dbl.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...left, ...Array(missing).fill("0"), ...right];
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail4 !== null) v = (v & ~0xffffffffn) | tail4;
  return IP.of(6, v);
}

function format4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join(".");
}

function format6(v: bigint): string {
  const g: number[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) g.push(Number((v >> s) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups, first on ties.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** "aa:bb:cc:dd:ee:ff" <-> 6 bytes. */
export function parseMAC(text: string): Uint8Array {
  const parts = text.split(":");
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw new TypeError(`invalid MAC address "${text}"`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMAC(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** A random locally administered unicast MAC (flannel's VTEP MAC rule). */
export function randomMAC(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  b[0] = (b[0] & 0xfe) | 0x02;
  return formatMAC(b);
}
