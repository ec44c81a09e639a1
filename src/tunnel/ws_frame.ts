// RFC 6455 framing, as much as the tunnel needs: binary messages (and text,
// which the session refuses), fragmentation, ping/pong/close, masking
// (clients mask, servers do not). The decoder is push-based and checks a
// message's size from each frame header, before any of its payload is
// buffered: a peer announcing more than the limit costs nothing but the
// header. Once a large payload is under way, the transport may read the
// rest of it straight into the payload's buffer (target(), filled()):
// bulk bytes are not copied again on their way in. No extensions, no
// subprotocols.

import { receiveBuffer } from "./slab.ts";

export const OP = {
  continuation: 0,
  text: 1,
  binary: 2,
  close: 8,
  ping: 9,
  pong: 10,
} as const;

/** Close codes of RFC 6455, section 7.4.1. */
export const WS_CLOSE = {
  normal: 1000,
  protocol: 1002,
  unsupported: 1003,
  noStatus: 1005,
  abnormal: 1006,
  tooBig: 1009,
} as const;

/** The peer broke the protocol; `code` is the close code to answer with. */
export class WsProtocolError extends Error {
  override name = "WsProtocolError";
  readonly code: number;
  constructor(message: string, code: number = WS_CLOSE.protocol) {
    super(message);
    this.code = code;
  }
}

/** XORs `buf` in place with `mask`, starting at mask byte `phase`. */
export function xorMask(buf: Uint8Array, mask: Uint8Array, phase = 0): void {
  let i = 0;
  const n = buf.length;
  // Bytes up to a 4-aligned address, then 32-bit words, then the tail.
  while (i < n && (buf.byteOffset + i) % 4 !== 0) {
    buf[i] ^= mask[(phase + i) & 3];
    i++;
  }
  const words = (n - i) >>> 2;
  if (words > 0) {
    const p = phase + i;
    const m = new Uint8Array([
      mask[p & 3],
      mask[(p + 1) & 3],
      mask[(p + 2) & 3],
      mask[(p + 3) & 3],
    ]);
    // The key as the word those bytes make in this machine's byte order;
    // eight words a round (a quarter less time than one).
    const key = new Int32Array(m.buffer)[0];
    const w = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    const whole = words & ~7;
    let j = 0;
    for (; j < whole; j += 8) {
      w[j] ^= key;
      w[j + 1] ^= key;
      w[j + 2] ^= key;
      w[j + 3] ^= key;
      w[j + 4] ^= key;
      w[j + 5] ^= key;
      w[j + 6] ^= key;
      w[j + 7] ^= key;
    }
    for (; j < words; j++) w[j] ^= key;
    i += words * 4;
  }
  for (; i < n; i++) buf[i] ^= mask[(phase + i) & 3];
}

/** The longest frame header: 2 bytes, a 64-bit length, a mask key. */
export const MAX_WS_HEAD = 14;

/** One frame: header (masked when `mask`), then payload, in one buffer. */
export function encodeWsFrame(
  op: number,
  payload: Uint8Array,
  mask: boolean,
): Uint8Array {
  const buf = new Uint8Array(MAX_WS_HEAD + payload.length);
  buf.set(payload, MAX_WS_HEAD);
  return frameInPlace(op, buf, MAX_WS_HEAD, mask);
}

/** Frames the payload `buf[headroom..]` in place: writes the header into
 * the headroom (at least MAX_WS_HEAD bytes), masks the payload when
 * `mask`; returns the frame (a view of `buf`). */
export function frameInPlace(
  op: number,
  buf: Uint8Array,
  headroom: number,
  mask: boolean,
): Uint8Array {
  const len = buf.length - headroom;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const start = headroom - (2 + ext + (mask ? 4 : 0));
  const out = buf.subarray(start);
  out[0] = 0x80 | op;
  out[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  const v = new DataView(out.buffer, out.byteOffset, 2 + ext);
  if (ext === 2) v.setUint16(2, len);
  if (ext === 8) v.setBigUint64(2, BigInt(len));
  if (mask) {
    const key = buf.subarray(headroom - 4, headroom);
    crypto.getRandomValues(key);
    xorMask(buf.subarray(headroom), key);
  }
  return out;
}

/** A close frame's payload: the code and a reason cut to 123 bytes. */
export function closePayload(code: number, reason: string): Uint8Array {
  let r = new TextEncoder().encode(reason);
  if (r.length > 123) {
    r = new TextEncoder().encode(
      new TextDecoder().decode(r.subarray(0, 120)).replace(/\uFFFD$/, ""),
    );
  }
  const out = new Uint8Array(2 + r.length);
  new DataView(out.buffer).setUint16(0, code);
  out.set(r, 2);
  return out;
}

/** Reads a close frame's payload; throws WsProtocolError if malformed. */
export function parseClose(p: Uint8Array): { code: number; reason: string } {
  if (p.length === 0) return { code: WS_CLOSE.noStatus, reason: "" };
  if (p.length === 1) throw new WsProtocolError("close frame of 1 byte");
  const code = new DataView(p.buffer, p.byteOffset).getUint16(0);
  if (code < 1000 || code >= 5000 || [1004, 1005, 1006, 1015].includes(code)) {
    throw new WsProtocolError(`close code ${code} is not allowed`);
  }
  try {
    const reason = new TextDecoder("utf-8", { fatal: true }).decode(
      p.subarray(2),
    );
    return { code, reason };
  } catch {
    throw new WsProtocolError("close reason is not UTF-8");
  }
}

export interface WsDecoderOptions {
  /** Largest message (all its fragments) accepted, in bytes. */
  maxMessage: number;
  /** True on the server: every client frame must be masked. */
  masked: boolean;
  /** A whole data message; `data` is the decoder's own copy. */
  onMessage: (data: Uint8Array, binary: boolean) => void;
  /** A control frame (close, ping, pong) with its unmasked payload. */
  onControl: (op: number, payload: Uint8Array) => void;
}

/** Payload bytes still to come from which reads go straight into the
 * payload (smaller rests are not worth a read of their own). */
const DIRECT_FROM = 4096;

/** Parses frames from bytes pushed in any pieces. */
export class WsDecoder {
  #o: WsDecoderOptions;
  #head = new Uint8Array(14);
  #headLen = 0;
  // The frame being read.
  #op = 0;
  #fin = false;
  #mask: Uint8Array | null = null;
  #payload: Uint8Array | null = null;
  #got = 0;
  // The message being assembled from fragments.
  #msgOp = -1;
  #parts: Uint8Array[] = [];
  #msgLen = 0;

  constructor(o: WsDecoderOptions) {
    this.#o = o;
  }

  /** Feeds bytes; throws WsProtocolError (then feed no more). */
  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.#payload === null) {
        off = this.#readHead(chunk, off);
        continue;
      }
      const p = this.#payload;
      const n = Math.min(p.length - this.#got, chunk.length - off);
      p.set(chunk.subarray(off, off + n), this.#got);
      if (this.#mask) {
        xorMask(p.subarray(this.#got, this.#got + n), this.#mask, this.#got);
      }
      this.#got += n;
      off += n;
      if (this.#got === p.length) this.#frameDone();
    }
  }

  /** Where the next read may go directly: the rest of the payload being
   * read (of a frame whose header has been checked), when large; else null.
   * Report what was read into it with filled(). */
  target(): Uint8Array | null {
    const p = this.#payload;
    if (p === null || p.length - this.#got < DIRECT_FROM) return null;
    return p.subarray(this.#got);
  }

  /** `n` bytes were read into the last target(). */
  filled(n: number): void {
    const p = this.#payload!;
    if (this.#mask) {
      xorMask(p.subarray(this.#got, this.#got + n), this.#mask, this.#got);
    }
    this.#got += n;
    if (this.#got === p.length) this.#frameDone();
  }

  /** Consumes header bytes from `chunk` at `off`; returns the new offset. */
  #readHead(chunk: Uint8Array, off: number): number {
    const h = this.#head;
    while (off < chunk.length) {
      h[this.#headLen++] = chunk[off++];
      const need = this.#headNeeded();
      if (need !== null && this.#headLen === need) {
        this.#startFrame(need);
        return off;
      }
    }
    return off;
  }

  /** The header's full length once its first two bytes are in. */
  #headNeeded(): number | null {
    if (this.#headLen < 2) return null;
    const len7 = this.#head[1] & 0x7f;
    const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    return 2 + ext + (this.#head[1] & 0x80 ? 4 : 0);
  }

  #startFrame(headLen: number): void {
    const h = this.#head;
    this.#headLen = 0;
    const fin = (h[0] & 0x80) !== 0;
    const op = h[0] & 0x0f;
    const masked = (h[1] & 0x80) !== 0;
    if (h[0] & 0x70) throw new WsProtocolError("reserved bits set");
    if (masked !== this.#o.masked) {
      throw new WsProtocolError(
        masked ? "server frame is masked" : "client frame is not masked",
      );
    }
    const v = new DataView(h.buffer);
    const len7 = h[1] & 0x7f;
    let len = len7;
    if (len7 === 126) len = v.getUint16(2);
    if (len7 === 127) {
      const big = v.getBigUint64(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new WsProtocolError(
          `frame of ${big} bytes exceeds ${this.#o.maxMessage}`,
          WS_CLOSE.tooBig,
        );
      }
      len = Number(big);
    }
    if (op >= 8) {
      if (op > OP.pong) throw new WsProtocolError(`unknown opcode ${op}`);
      if (!fin) throw new WsProtocolError("fragmented control frame");
      if (len > 125) {
        throw new WsProtocolError(`control frame of ${len} bytes`);
      }
    } else if (op === OP.continuation) {
      if (this.#msgOp < 0) {
        throw new WsProtocolError("continuation without a message");
      }
    } else if (op === OP.text || op === OP.binary) {
      if (this.#msgOp >= 0) {
        throw new WsProtocolError("new message inside a fragmented one");
      }
    } else throw new WsProtocolError(`unknown opcode ${op}`);
    if (op < 8) {
      const total = this.#msgLen + len;
      if (total > this.#o.maxMessage) {
        throw new WsProtocolError(
          `message of ${total}${
            fin ? "" : "+"
          } bytes exceeds ${this.#o.maxMessage}`,
          WS_CLOSE.tooBig,
        );
      }
      if (op !== OP.continuation) this.#msgOp = op;
      this.#msgLen = total;
    }
    this.#op = op;
    this.#fin = fin;
    this.#mask = masked ? h.slice(headLen - 4, headLen) : null;
    // A whole message in one frame may go into a pooled slab, which its
    // consumer gives back (see slab.ts); fragments are joined into a copy.
    this.#payload = fin && op !== OP.continuation && op < 8
      ? receiveBuffer(len)
      : new Uint8Array(len);
    this.#got = 0;
    if (len === 0) this.#frameDone();
  }

  #frameDone(): void {
    const p = this.#payload!;
    this.#payload = null;
    if (this.#op >= 8) return this.#o.onControl(this.#op, p);
    if (!this.#fin) {
      this.#parts.push(p);
      return;
    }
    let data = p;
    if (this.#parts.length) {
      data = new Uint8Array(this.#msgLen);
      let at = 0;
      for (const q of [...this.#parts, p]) {
        data.set(q, at);
        at += q.length;
      }
    }
    const binary = this.#msgOp === OP.binary;
    this.#parts = [];
    this.#msgOp = -1;
    this.#msgLen = 0;
    this.#o.onMessage(data, binary);
  }
}
