import { assertEquals } from "@std/assert";
import { concatBytes } from "../../src/util/sync_io.ts";

Deno.test("concatBytes joins chunks in order, counting them when no size is given", () => {
  const a = new Uint8Array([1, 2]);
  const b = new Uint8Array([3]);
  assertEquals([...concatBytes([a, b])], [1, 2, 3]);
  assertEquals([...concatBytes([a, new Uint8Array(0), b], 3)], [1, 2, 3]);
  assertEquals(concatBytes([]).length, 0);
});
