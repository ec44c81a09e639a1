// util/close.ts: closing twice is quiet; the first close still happens.

import { assertEquals, assertThrows } from "@std/assert";
import { closeQuietly } from "../../src/util/close.ts";

Deno.test("closeQuietly() closes, and a second close's error is swallowed", () => {
  let closes = 0;
  const resource = {
    close() {
      closes++;
      if (closes > 1) throw new Deno.errors.BadResource("already closed");
    },
  };
  closeQuietly(resource);
  closeQuietly(resource);
  assertEquals(closes, 2);
  assertThrows(() => resource.close(), Deno.errors.BadResource);
});

Deno.test("closeQuietly() on a real listener closed twice", () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  closeQuietly(listener);
  closeQuietly(listener);
});
