import { assertEquals, assertThrows } from "@std/assert";
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  MAX_DATA,
  MAX_FRAME,
} from "../../src/tunnel/frame.ts";
import { FrameError } from "../../src/tunnel/errors.ts";

Deno.test("frame: every type round-trips through encode/decode", () => {
  const frames: Frame[] = [
    { type: "connect", id: 1, target: "tcp/127.0.0.1:10250" },
    { type: "connect", id: 7, target: "" },
    { type: "data", id: 0xffffffff, data: new Uint8Array([1, 2, 3]) },
    { type: "data", id: 2, data: new Uint8Array(MAX_DATA).fill(9) },
    { type: "close", id: 3 },
    { type: "error", id: 4, message: "denied: 10.0.0.1:22 ünïcode" },
    { type: "pause", id: 5 },
    { type: "resume", id: 6 },
    { type: "sync", ids: [] },
    { type: "sync", ids: [1, 2, 0xffffffff] },
    { type: "ping" },
  ];
  for (const f of frames) assertEquals(decodeFrame(encodeFrame(f)), f);
});

Deno.test("frame: malformed frames are FrameErrors", () => {
  const bad: [number[], string][] = [
    [[], "shorter than 5"],
    [[2, 0, 0, 0], "shorter than 5"],
    [[0, 0, 0, 0, 1], "unknown frame type 0"],
    [[9, 0, 0, 0, 1], "unknown frame type 9"],
    [[2, 0, 0, 0, 0, 1], "stream id 0"],
    [[2, 0, 0, 0, 1], "empty data frame"],
    [[3, 0, 0, 0, 1, 1], "close frame with a payload"],
    [[5, 0, 0, 0, 1, 0], "pause frame with a payload"],
    [[7, 0, 0, 0, 0, 1, 2], "not 4*n"],
    [[7, 0, 0, 0, 3], "sync frame with stream id 3"],
    [[8, 0, 0, 0, 0, 1], "ping frame with a payload"],
    [[1, 0, 0, 0, 1, 0xff, 0xfe], "not UTF-8"],
  ];
  for (const [bytes, msg] of bad) {
    assertThrows(() => decodeFrame(new Uint8Array(bytes)), FrameError, msg);
  }
});

Deno.test("frame: oversized frames and targets are refused", () => {
  const big = new Uint8Array(MAX_FRAME + 1);
  big[0] = 2;
  big[4] = 1;
  assertThrows(() => decodeFrame(big), FrameError, "exceeds");
  const target = new Uint8Array(5 + 2000).fill(0x61);
  target.set([1, 0, 0, 0, 1]);
  assertThrows(() => decodeFrame(target), FrameError, "too long");
  assertThrows(
    () => encodeFrame({ type: "data", id: 1, data: new Uint8Array(MAX_FRAME) }),
    FrameError,
    "exceeds",
  );
  assertThrows(
    () => encodeFrame({ type: "close", id: 0 }),
    FrameError,
    "not in 1..2^32-1",
  );
});

Deno.test("frame: a long error reason is cut to a decodable size", () => {
  const f = decodeFrame(
    encodeFrame({ type: "error", id: 1, message: "é".repeat(3000) }),
  );
  assertEquals(f.type, "error");
  const m = (f as { message: string }).message;
  assertEquals(m.startsWith("éé"), true);
  assertEquals(new TextEncoder().encode(m).length <= 1024, true);
  assertThrows(
    () => encodeFrame({ type: "connect", id: 1, target: "x".repeat(2000) }),
    FrameError,
    "too long",
  );
});
