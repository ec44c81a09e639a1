// A small DER (ASN.1) writer and reader: just the types X.509 needs.

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8: 0x0c,
  PRINTABLE: 0x13,
  IA5: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** One TLV with the given tag around `content` (bytes or nested TLVs). */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concat(content);
  return concat([new Uint8Array([tag, ...lengthBytes(body.length)]), body]);
}

export const seq = (...c: Uint8Array[]) => tlv(TAG.SEQUENCE, ...c);
export const set = (...c: Uint8Array[]) => tlv(TAG.SET, ...c);
export const octets = (b: Uint8Array) => tlv(TAG.OCTET_STRING, b);
export const bitString = (b: Uint8Array) =>
  tlv(TAG.BIT_STRING, new Uint8Array([0]), b);
export const bool = (v: boolean) =>
  tlv(TAG.BOOLEAN, new Uint8Array([v ? 0xff : 0]));
export const utf8 = (s: string) => tlv(TAG.UTF8, new TextEncoder().encode(s));
/** Context-specific constructed tag [n] (EXPLICIT). */
export const explicit = (n: number, ...c: Uint8Array[]) => tlv(0xa0 | n, ...c);

/** A non-negative INTEGER from big-endian magnitude bytes. */
export function uint(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  return tlv(TAG.INTEGER, b[0] & 0x80 ? concat([new Uint8Array([0]), b]) : b);
}

export const int = (n: number) => {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return uint(new Uint8Array(bytes.length ? bytes : [0]));
};

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isInteger(a) || a < 0)) {
    throw new TypeError(`invalid OID ${JSON.stringify(dotted)}`);
  }
  const out = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) {
      chunk.unshift(0x80 | (v & 0x7f));
    }
    out.push(...chunk);
  }
  return tlv(TAG.OID, new Uint8Array(out));
}

/** UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 4.1.2.5). */
export function time(d: Date): Uint8Array {
  const iso = d.toISOString().replace(/\.\d+Z$/, "Z").replace(/[-:T]/g, "");
  const enc = new TextEncoder();
  return d.getUTCFullYear() < 2050
    ? tlv(TAG.UTC_TIME, enc.encode(iso.slice(2)))
    : tlv(TAG.GENERALIZED_TIME, enc.encode(iso));
}

/** A parsed TLV: its tag, its content, and the whole encoding. */
export interface Node {
  tag: number;
  content: Uint8Array;
  raw: Uint8Array;
}

export class DerError extends Error {
  override name = "DerError";
}

/** Reads one TLV at `offset`. */
export function read(buf: Uint8Array, offset = 0): Node {
  if (offset + 2 > buf.length) throw new DerError("truncated DER");
  const tag = buf[offset];
  let len = buf[offset + 1];
  let head = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || offset + 2 + n > buf.length) {
      throw new DerError("unsupported DER length");
    }
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[offset + 2 + i];
    head += n;
  }
  const end = offset + head + len;
  if (end > buf.length) throw new DerError("truncated DER");
  return {
    tag,
    content: buf.subarray(offset + head, end),
    raw: buf.subarray(offset, end),
  };
}

/** The TLVs inside a constructed value. */
export function children(node: Node): Node[] {
  const out: Node[] = [];
  for (let off = 0; off < node.content.length;) {
    const child = read(node.content, off);
    out.push(child);
    off += child.raw.length;
  }
  return out;
}

export function readOid(node: Node): string {
  if (node.tag !== TAG.OID) throw new DerError("expected an OID");
  const b = node.content;
  const arcs = [Math.floor(b[0] / 40), b[0] % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      arcs.push(v);
      v = 0;
    }
  }
  return arcs.join(".");
}

export function readTime(node: Node): Date {
  const s = new TextDecoder().decode(node.content);
  const m = node.tag === TAG.UTC_TIME
    ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s)
    : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
  if (!m) throw new DerError(`unsupported time ${JSON.stringify(s)}`);
  let year = Number(m[1]);
  if (node.tag === TAG.UTC_TIME) year += year < 50 ? 2000 : 1900;
  return new Date(
    Date.UTC(year, +m[2] - 1, +m[3], +m[4], +m[5], +m[6]),
  );
}
