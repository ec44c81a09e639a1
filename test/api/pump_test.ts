import { assertEquals, assertRejects } from "@std/assert";
import { pump } from "../../src/api/_pump.ts";

async function pair(): Promise<[Deno.Conn, Deno.Conn, () => void]> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({
      hostname: "127.0.0.1",
      port: (l.addr as Deno.NetAddr).port,
    }),
    l.accept(),
  ]);
  return [a, b, () => l.close()];
}

Deno.test("pump copies every byte in order and ends at EOF", async () => {
  const [srcW, srcR, closeL1] = await pair();
  const [dstW, dstR, closeL2] = await pair();
  try {
    const data = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let off = 0; off < data.length; off += 65536) {
      crypto.getRandomValues(data.subarray(off, off + 65536));
    }
    const copying = pump(srcR, dstW);
    const writing = (async () => {
      for (let off = 0; off < data.length; off += 10_000) {
        await srcW.write(
          data.subarray(off, Math.min(data.length, off + 10_000)),
        );
      }
      await srcW.closeWrite();
    })();
    const got = new Uint8Array(data.length);
    let n = 0;
    const reading = (async () => {
      while (n < data.length) {
        const r = await dstR.read(got.subarray(n));
        if (r === null) break;
        n += r;
      }
    })();
    await Promise.all([copying, writing, reading]);
    assertEquals(n, data.length);
    assertEquals(got, data);
  } finally {
    for (const c of [srcW, srcR, dstW, dstR]) c.close();
    closeL1();
    closeL2();
  }
});

Deno.test("pump rejects when the destination fails, without waiting for the source", async () => {
  const [srcW, srcR, closeL1] = await pair();
  const [dstW, dstR, closeL2] = await pair();
  try {
    dstW.close();
    const copying = pump(srcR, dstW);
    await srcW.write(new Uint8Array([1, 2, 3]));
    await assertRejects(() => copying);
  } finally {
    for (const c of [srcW, srcR, dstR]) c.close();
    closeL1();
    closeL2();
  }
});
