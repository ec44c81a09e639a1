import { assert, assertEquals } from "@std/assert";
import { Slab } from "../../src/tunnel/slab.ts";

Deno.test("Slab: a buffer is reused only once its reader and every frame let it go", () => {
  const a = new Slab();
  const sent = a.hold();
  a.drop();
  // A frame is still in flight: a new slab gets another buffer.
  const b = new Slab();
  assert(b.buf !== a.buf);
  sent();
  sent(); // ending a hold twice counts once
  const c = new Slab();
  assertEquals(c.buf, a.buf);
  assert(c.buf === a.buf);
  // A frame never sent keeps its slab out of the free list for good.
  const d = new Slab();
  d.hold();
  d.drop();
  b.drop();
  c.drop();
  const e = new Slab();
  assert(e.buf !== d.buf);
});
