// Netlink wire format: building one request and walking the messages and
// attributes of a reply. Host byte order (little-endian on x86_64/arm64)
// except where a field is network order (be16/be32 helpers).

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;

export const NLA_F_NESTED = 0x8000;

const align = (n: number) => (n + 3) & ~3;

/** Builds one netlink message: header, fixed struct, attributes. */
export class MsgBuilder {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 16;
  #nests: number[] = [];

  constructor(type: number, flags: number) {
    this.#view.setUint16(4, type, true);
    this.#view.setUint16(6, flags | NLM_F_REQUEST, true);
  }

  #grow(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = new Uint8Array(
      Math.max(this.#buf.length * 2, this.#len + n + 64),
    );
    next.set(this.#buf);
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** Adds header flags (NLM_F_ACK before sending a request). */
  addFlags(flags: number): this {
    this.#view.setUint16(6, this.#view.getUint16(6, true) | flags, true);
    return this;
  }

  /** Appends raw bytes (a fixed header struct), padded to 4. */
  raw(bytes: Uint8Array): this {
    const n = align(bytes.length);
    this.#grow(n);
    this.#buf.set(bytes, this.#len);
    this.#len += n;
    return this;
  }

  attr(type: number, data: Uint8Array): this {
    const n = 4 + data.length;
    this.#grow(align(n));
    this.#view.setUint16(this.#len, n, true);
    this.#view.setUint16(this.#len + 2, type, true);
    this.#buf.set(data, this.#len + 4);
    this.#buf.fill(0, this.#len + n, this.#len + align(n));
    this.#len += align(n);
    return this;
  }

  flag(type: number): this {
    return this.attr(type, new Uint8Array(0));
  }
  u8(type: number, v: number): this {
    return this.attr(type, Uint8Array.of(v));
  }
  u16(type: number, v: number): this {
    return this.attr(type, le16(v));
  }
  be16(type: number, v: number): this {
    return this.attr(type, Uint8Array.of(v >> 8, v & 0xff));
  }
  u32(type: number, v: number): this {
    return this.attr(type, le32(v));
  }
  str(type: number, s: string): this {
    return this.attr(type, new TextEncoder().encode(s + "\0"));
  }

  nest(type: number, nested = false): this {
    this.#grow(4);
    this.#nests.push(this.#len);
    this.#view.setUint16(
      this.#len + 2,
      type | (nested ? NLA_F_NESTED : 0),
      true,
    );
    this.#len += 4;
    return this;
  }
  end(): this {
    const at = this.#nests.pop();
    if (at === undefined) throw new Error("MsgBuilder.end() without nest()");
    this.#view.setUint16(at, this.#len - at, true);
    return this;
  }

  /** The finished message with sequence number `seq`. */
  finish(seq: number): Uint8Array<ArrayBuffer> {
    this.#view.setUint32(0, this.#len, true);
    this.#view.setUint32(8, seq, true);
    return this.#buf.subarray(0, this.#len);
  }
}

export function le16(v: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, true);
  return b;
}
export function le32(v: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** One received message: type, flags, seq and its payload (after the header). */
export interface Msg {
  type: number;
  flags: number;
  seq: number;
  data: DataView;
}

/** Splits a received datagram into messages. */
export function* messages(buf: Uint8Array): Generator<Msg> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + 16 <= buf.byteLength) {
    const len = view.getUint32(off, true);
    if (len < 16 || off + len > buf.byteLength) break;
    yield {
      type: view.getUint16(off + 4, true),
      flags: view.getUint16(off + 6, true),
      seq: view.getUint32(off + 8, true),
      data: new DataView(buf.buffer, buf.byteOffset + off + 16, len - 16),
    };
    off += align(len);
  }
}

/** Attributes of a region: type (flags stripped) -> payload view; last wins. */
export function attrs(v: DataView, start = 0): Map<number, DataView> {
  const out = new Map<number, DataView>();
  let off = start;
  while (off + 4 <= v.byteLength) {
    const len = v.getUint16(off, true);
    if (len < 4 || off + len > v.byteLength) break;
    out.set(
      v.getUint16(off + 2, true) & 0x3fff,
      new DataView(v.buffer, v.byteOffset + off + 4, len - 4),
    );
    off += align(len);
  }
  return out;
}

export function bytesOf(v: DataView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
export function strOf(v: DataView): string {
  const b = bytesOf(v);
  const nul = b.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? b : b.subarray(0, nul));
}
export const u8Of = (v: DataView) => v.getUint8(0);
export const u16Of = (v: DataView) => v.getUint16(0, true);
export const be16Of = (v: DataView) => v.getUint16(0, false);
export const u32Of = (v: DataView) => v.getUint32(0, true);
