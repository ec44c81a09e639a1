import { assert, assertEquals } from "@std/assert";
import { receiveBuffer, received, Slab } from "../../src/tunnel/slab.ts";

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

Deno.test("receiveBuffer: large messages go into slabs, given back once used", () => {
  const small = receiveBuffer(1000);
  received(small); // not a slab's: nothing happens
  assertEquals(small.length, 1000);
  const big = receiveBuffer(200_000);
  assertEquals(big.length, 200_000);
  const other = receiveBuffer(200_000);
  assert(other.buffer !== big.buffer);
  received(big.subarray(5));
  received(big); // once only
  const again = receiveBuffer(100_000);
  assert(again.buffer === big.buffer);
  received(again);
  received(other);
});
