// util/encoding.ts: hex and base64 round trips, the URL alphabet and
// missing padding accepted, non-hex and non-base64 rejected.

import { assertEquals, assertThrows } from "@std/assert";
import {
  decodeBase64,
  decodeHex,
  encodeBase64,
  encodeHex,
} from "../../src/util/encoding.ts";

Deno.test("encodeHex()/decodeHex(): lowercase out, either case in, round trip", () => {
  const bytes = Uint8Array.from([0, 1, 0xab, 0xff]);
  assertEquals(encodeHex(bytes), "0001abff");
  assertEquals(decodeHex("0001ABff"), bytes);
  assertEquals(decodeHex(""), new Uint8Array());
  assertThrows(() => decodeHex("abc"), TypeError, "invalid hex");
  assertThrows(() => decodeHex("zz"), TypeError, "invalid hex");
});

Deno.test("encodeBase64()/decodeBase64(): round trip of large input, URL alphabet and no padding accepted", () => {
  const big = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) & 0xff);
  assertEquals(decodeBase64(encodeBase64(big)), big);
  const bytes = Uint8Array.from([0xfb, 0xff, 0xfe]);
  assertEquals(encodeBase64(bytes), "+//+");
  assertEquals(decodeBase64("-__-"), bytes);
  assertEquals(decodeBase64("YQ"), new TextEncoder().encode("a"));
  assertThrows(() => decodeBase64("not base64!"));
});

Deno.test("decodeBase64(strict): the standard alphabet only", () => {
  const bytes = Uint8Array.from([0xfb, 0xff, 0xfe]);
  assertEquals(decodeBase64("+//+", { strict: true }), bytes);
  assertThrows(() => decodeBase64("-__-", { strict: true }));
});
