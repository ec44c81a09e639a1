import { assertEquals, assertThrows } from "@std/assert";
import { formatToken, parseToken, TokenError } from "../../src/tls/mod.ts";

const H = "a".repeat(64);

Deno.test("parseToken() reads the full K10 form", () => {
  assertEquals(parseToken(`K10${H}::node:abc123`), {
    caHash: H,
    username: "node",
    password: "abc123",
  });
  assertEquals(parseToken(`K10${H}::server:x:y`), {
    caHash: H,
    username: "server",
    password: "x:y",
  });
});

Deno.test("parseToken() reads K10:::<pw> as a bare password without hash", () => {
  assertEquals(parseToken("K10:::pw"), { password: "pw" });
});

Deno.test("parseToken() reads K10<hash>::<pw> without a user", () => {
  assertEquals(parseToken(`K10${H}::pw`), { caHash: H, password: "pw" });
});

Deno.test("parseToken() takes any other text as a bare secret", () => {
  assertEquals(parseToken("  mysecret\n"), { password: "mysecret" });
  assertEquals(parseToken("K10nohashseparator"), {
    password: "K10nohashseparator",
  });
});

Deno.test("parseToken() rejects a malformed hash, an empty secret and whitespace", () => {
  assertThrows(
    () => parseToken("K10abc::node:x"),
    TokenError,
    "64 lowercase hex",
  );
  assertThrows(() => parseToken(`K10${H}::node:`), TokenError, "no secret");
  assertThrows(() => parseToken(""), TokenError, "empty");
  assertThrows(() => parseToken("a b"), TokenError, "whitespace");
});

Deno.test("formatToken() round-trips through parseToken()", () => {
  const t = formatToken(H, "node", "0123abcd");
  assertEquals(t, `K10${H}::node:0123abcd`);
  assertEquals(parseToken(t), {
    caHash: H,
    username: "node",
    password: "0123abcd",
  });
});
