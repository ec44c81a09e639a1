// Address bytes for netlink attributes: IPv4/IPv6 and MAC parsing and
// formatting, kept inside ffi/ so the binding depends on nothing above it.

export interface IpBytes {
  family: 4 | 6;
  bytes: Uint8Array<ArrayBuffer>;
}

function parse4(s: string): Uint8Array<ArrayBuffer> | null {
  // A hand loop: this runs once per netlink operation on the hot path.
  const out = new Uint8Array(4);
  let part = 0, val = 0, digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part === 3) return null;
      out[part++] = val;
      val = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      val = val * 10 + c - 48;
      if (++digits > 3 || val > 255) return null;
    } else return null;
  }
  if (part !== 3 || digits === 0) return null;
  out[3] = val;
  return out;
}

function parse6(s: string): Uint8Array<ArrayBuffer> | null {
  let tail4: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".") && lastColon >= 0) {
    tail4 = parse4(s.slice(lastColon + 1));
    if (!tail4) return null;
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [
    ...head,
    ...Array(halves.length === 2 ? missing : 0).fill("0"),
    ...rest,
  ];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(all[i])) return null;
    const n = parseInt(all[i], 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  }
  if (tail4) out.set(tail4, 12);
  return out;
}

/** Parses an IPv4 or IPv6 address; throws TypeError quoting bad input. */
export function parseIp(s: string): IpBytes {
  const v4 = parse4(s);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = s.includes(":") ? parse6(s) : null;
  if (v6) return { family: 6, bytes: v6 };
  throw new TypeError(`invalid IP address "${s}"`);
}

/** Parses "addr/len" (or a bare address = full length). */
export function parseCidr(s: string): IpBytes & { prefix: number } {
  const slash = s.indexOf("/");
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  const max = ip.family === 4 ? 32 : 128;
  const prefix = slash < 0 ? max : Number(s.slice(slash + 1));
  if (
    !Number.isInteger(prefix) || prefix < 0 || prefix > max ||
    (slash >= 0 && !/^\d+$/.test(s.slice(slash + 1)))
  ) {
    throw new TypeError(`invalid CIDR "${s}": prefix length must be 0..${max}`);
  }
  return { ...ip, prefix };
}

/** The network address of bytes/prefix (host bits cleared). */
export function maskBytes(
  bytes: Uint8Array,
  prefix: number,
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

/** Formats 4 or 16 bytes as an address (IPv6 in RFC 5952 form). */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join(".");
  if (b.length !== 16) throw new TypeError(`address of ${b.length} bytes`);
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i] << 8) | b[2 * i + 1]);
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with dashes, or one-digit groups). */
export function parseMac(s: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(6);
  let part = 0, digits = 0, ok = true;
  for (let i = 0; i < s.length && ok; i++) {
    const c = s.charCodeAt(i);
    if (c === 58 || c === 45) {
      ok = digits > 0 && part < 5;
      part++;
      digits = 0;
      continue;
    }
    const v = hexVal(c);
    ok = v >= 0 && ++digits <= 2;
    out[part] = (out[part] << 4) | v;
  }
  if (!ok || part !== 5 || digits === 0) {
    throw new TypeError(`invalid MAC address "${s}"`);
  }
  return out;
}

/** Formats link-layer bytes as lower-case colon hex. */
export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}
