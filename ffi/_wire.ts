// Netlink wire format: building one request and walking the messages and
// attributes of a reply. Host byte order (little-endian on x86_64/arm64)
// except where a field is network order (be16/be32 helpers).

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
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
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes a little-endian u16 into b at off. */
export function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}

/** Writes a little-endian u32 into b at off. */
export function put32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/**
 * Builds one netlink message: header, fixed struct, attributes. Plain byte
 * writes into a small buffer (grown on demand): building runs once per
 * operation and must stay cheap next to the syscall.
 */
export class MsgBuilder {
  #buf = new Uint8Array(64);
  #len = 16;
  #nests: number[] = [];

  constructor(type: number, flags: number) {
    put16(this.#buf, 4, type);
    put16(this.#buf, 6, flags | NLM_F_REQUEST);
  }

  /** A builder holding an already encoded message (built by libnl). */
  static fromBytes(msg: Uint8Array): MsgBuilder {
    const b = new MsgBuilder(0, 0);
    b.#buf = new Uint8Array(align(msg.length) + 16);
    b.#buf.set(msg);
    b.#len = msg.length;
    // libnl adds NLM_F_REQUEST only when it sends; without it the kernel
    // acknowledges the message without acting on it.
    return b.addFlags(NLM_F_REQUEST);
  }

  #grow(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = new Uint8Array(
      Math.max(this.#buf.length * 2, this.#len + n + 64),
    );
    next.set(this.#buf);
    this.#buf = next;
  }

  /** Adds header flags (NLM_F_ACK before sending a request). */
  addFlags(flags: number): this {
    put16(this.#buf, 6, (this.#buf[6] | (this.#buf[7] << 8)) | flags);
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

  #attrHead(type: number, payload: number): number {
    const n = 4 + payload;
    this.#grow(align(n));
    put16(this.#buf, this.#len, n);
    put16(this.#buf, this.#len + 2, type);
    const at = this.#len + 4;
    this.#len += align(n);
    return at;
  }

  attr(type: number, data: Uint8Array): this {
    const at = this.#attrHead(type, data.length); // may grow #buf
    this.#buf.set(data, at);
    return this;
  }

  flag(type: number): this {
    this.#attrHead(type, 0);
    return this;
  }
  u8(type: number, v: number): this {
    const at = this.#attrHead(type, 1);
    this.#buf[at] = v;
    return this;
  }
  u16(type: number, v: number): this {
    const at = this.#attrHead(type, 2);
    put16(this.#buf, at, v);
    return this;
  }
  be16(type: number, v: number): this {
    const at = this.#attrHead(type, 2);
    this.#buf[at] = (v >>> 8) & 0xff;
    this.#buf[at + 1] = v & 0xff;
    return this;
  }
  u32(type: number, v: number): this {
    const at = this.#attrHead(type, 4);
    put32(this.#buf, at, v);
    return this;
  }
  str(type: number, s: string): this {
    return this.attr(type, encoder.encode(s + "\0"));
  }

  nest(type: number, nested = false): this {
    this.#grow(4);
    this.#nests.push(this.#len);
    put16(this.#buf, this.#len + 2, type | (nested ? NLA_F_NESTED : 0));
    this.#len += 4;
    return this;
  }
  end(): this {
    const at = this.#nests.pop();
    if (at === undefined) throw new Error("MsgBuilder.end() without nest()");
    put16(this.#buf, at, this.#len - at);
    return this;
  }

  /** The finished message with sequence number `seq`. */
  finish(seq: number): Uint8Array<ArrayBuffer> {
    put32(this.#buf, 0, this.#len);
    put32(this.#buf, 8, seq);
    return this.#buf.subarray(0, this.#len);
  }
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
  return decoder.decode(nul < 0 ? b : b.subarray(0, nul));
}
export const u8Of = (v: DataView) => v.getUint8(0);
export const be16Of = (v: DataView) => v.getUint16(0, false);
export const u32Of = (v: DataView) => v.getUint32(0, true);
