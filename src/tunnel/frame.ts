// The tunnel's wire format. Every frame is one binary websocket message:
//
//   byte 0      frame type (1 connect, 2 data, 3 close, 4 error, 5 pause,
//               6 resume, 7 sync, 8 ping)
//   bytes 1..4  stream id, unsigned 32-bit big-endian (0 for sync and ping)
//   bytes 5..   payload, by type:
//     connect   UTF-8 target "tcp/<host>:<port>" from the server (dial);
//               empty from the agent (dialled, the stream is open)
//     data      stream bytes, at most MAX_DATA
//     close     empty: the sender will write no more (half close)
//     error     UTF-8 reason: the stream is refused or reset (both ways)
//     pause     empty: the receiver holds more than PAUSE_AT bytes
//     resume    empty: the receiver is below RESUME_AT bytes again
//     sync      the sender's open stream ids, each u32 big-endian
//     ping      empty: keepalive, sent every 5 s by both sides
//
// Anything else (short frame, unknown type, bad payload for its type, a
// stream frame with id 0, more than MAX_FRAME bytes) is a FrameError, and
// the session that received it is closed.

import { FrameError, FrameTooBig } from "./errors.ts";

export const HEADER = 5;
/** Largest data payload a sender puts in one frame. */
export const MAX_DATA = 256 * 1024;
/** Largest frame accepted: a data frame, or a sync of up to 256Ki ids. */
export const MAX_FRAME = HEADER + 1024 * 1024;
const MAX_TARGET = 1024;

export type Frame =
  | { type: "connect"; id: number; target: string }
  | {
    type: "data";
    id: number;
    data: Uint8Array;
    /** Free bytes in front of `data` in its buffer, which is handed over:
     * encodeFrame() then writes the headers there instead of copying. */
    room?: number;
    /** With `room`: called once the frame's bytes are no longer needed. */
    release?: () => void;
  }
  | { type: "close"; id: number }
  | { type: "error"; id: number; message: string }
  | { type: "pause"; id: number }
  | { type: "resume"; id: number }
  | { type: "sync"; ids: number[] }
  | { type: "ping" };

const CODES = {
  connect: 1,
  data: 2,
  close: 3,
  error: 4,
  pause: 5,
  resume: 6,
  sync: 7,
  ping: 8,
} as const;
const TYPES = Object.fromEntries(
  Object.entries(CODES).map(([k, v]) => [v, k]),
) as Record<number, Frame["type"]>;

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

function frameOf(
  type: Frame["type"],
  id: number,
  payload: Uint8Array,
  headroom: number,
) {
  const out = new Uint8Array(headroom + HEADER + payload.length);
  out[headroom] = CODES[type];
  new DataView(out.buffer).setUint32(headroom + 1, id);
  out.set(payload, headroom + HEADER);
  return out;
}

function payloadOf(f: Frame): Uint8Array {
  switch (f.type) {
    case "connect": {
      const b = enc.encode(f.target);
      if (b.length > MAX_TARGET) {
        throw new FrameError(`connect target of ${b.length} bytes is too long`);
      }
      return b;
    }
    case "data":
      return f.data;
    case "error": {
      // Cut long reasons to MAX_TARGET bytes, on a character boundary.
      const b = enc.encode(f.message);
      if (b.length <= MAX_TARGET) return b;
      const lenient = new TextDecoder();
      return enc.encode(lenient.decode(b.subarray(0, MAX_TARGET - 4)));
    }
    case "sync": {
      const b = new Uint8Array(f.ids.length * 4);
      const v = new DataView(b.buffer);
      f.ids.forEach((id, i) => v.setUint32(i * 4, id));
      return b;
    }
    default:
      return new Uint8Array(0);
  }
}

/** A data frame around `data`, headers written in the bytes before it. */
function frameInRoom(data: Uint8Array, id: number, headroom: number) {
  const size = HEADER + data.length;
  if (size > MAX_FRAME) {
    throw new FrameTooBig(`frame of ${size} bytes exceeds ${MAX_FRAME}`);
  }
  const at = data.byteOffset - HEADER - headroom;
  const out = new Uint8Array(data.buffer, at, headroom + size);
  out[headroom] = CODES.data;
  new DataView(data.buffer, at + headroom + 1, 4).setUint32(0, id);
  return out;
}

/** Encodes a frame; throws FrameError when it would not decode. The first
 * `headroom` bytes of the result are left free (for the websocket header,
 * so that a frame is copied once on its way out). */
export function encodeFrame(f: Frame, headroom = 0): Uint8Array {
  const id = "id" in f ? f.id : 0;
  if ("id" in f && (!Number.isInteger(id) || id < 1 || id > 0xffffffff)) {
    throw new FrameError(`stream id ${id} is not in 1..2^32-1`);
  }
  if (f.type === "data" && (f.room ?? 0) >= headroom + HEADER) {
    return frameInRoom(f.data, id, headroom);
  }
  const payload = payloadOf(f);
  const size = HEADER + payload.length;
  if (size > MAX_FRAME) {
    throw new FrameTooBig(`frame of ${size} bytes exceeds ${MAX_FRAME}`);
  }
  return frameOf(f.type, id, payload, headroom);
}

function text(p: Uint8Array, what: string): string {
  if (p.length > MAX_TARGET) {
    throw new FrameError(`${what} of ${p.length} bytes is too long`);
  }
  try {
    return dec.decode(p);
  } catch (e) {
    throw new FrameError(`${what} is not UTF-8`, { cause: e });
  }
}

/** Decodes one websocket message; throws FrameError on anything invalid. */
export function decodeFrame(msg: Uint8Array): Frame {
  if (msg.length > MAX_FRAME) {
    throw new FrameTooBig(`frame of ${msg.length} bytes exceeds ${MAX_FRAME}`);
  }
  if (msg.length < HEADER) {
    throw new FrameError(`frame of ${msg.length} bytes is shorter than 5`);
  }
  const type = TYPES[msg[0]];
  if (!type) throw new FrameError(`unknown frame type ${msg[0]}`);
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const id = view.getUint32(1);
  const p = msg.subarray(HEADER);
  if (type === "sync" || type === "ping") {
    if (id !== 0) throw new FrameError(`${type} frame with stream id ${id}`);
    if (type === "ping") {
      if (p.length) throw new FrameError("ping frame with a payload");
      return { type };
    }
    if (p.length % 4) {
      throw new FrameError(`sync payload of ${p.length} bytes is not 4*n`);
    }
    const ids: number[] = [];
    for (let i = 0; i < p.length; i += 4) ids.push(view.getUint32(5 + i));
    return { type, ids };
  }
  if (id === 0) throw new FrameError(`${type} frame with stream id 0`);
  switch (type) {
    case "connect":
      return { type, id, target: text(p, "connect target") };
    case "data":
      if (p.length === 0) throw new FrameError("empty data frame");
      return { type, id, data: p };
    case "error":
      return { type, id, message: text(p, "error message") };
    default:
      if (p.length) throw new FrameError(`${type} frame with a payload`);
      return { type, id };
  }
}
