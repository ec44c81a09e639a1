// Finding 4 (medium): each watch cost ~385 KB (two 256 KiB pump buffers per
// connection); 2000 watches took RSS from 99 MB to 870 MB, and after they
// closed RSS stayed at 0.8-1.3 GB. Now a bodyless request (a watch) is
// answered by the front itself, without the internal connection, and
// reads start with small buffers: an idle watch costs <= 64 KiB resident,
// and RSS comes back after the watches close (V8 returns its pooled pages
// after a few seconds; the front trims the C heap after a large drop).

import { assert } from "@std/assert";
import { type ApiProcess, spawnApiProcess } from "./conn_server_process.ts";

const WATCHES = 2000;
const enc = new TextEncoder();

async function openWatch(p: ApiProcess): Promise<Deno.TlsConn> {
  const c = await p.dial();
  await c.write(enc.encode(
    "GET /api/v1/nodes?watch=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-token\r\n\r\n",
  ));
  const buf = new Uint8Array(2048);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await c.read(buf);
    if (n === null) throw new Error(`the watch ended early: ${text}`);
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  assert(text.startsWith("HTTP/1.1 200"), text);
  return c;
}

async function openWatches(p: ApiProcess, n: number) {
  const out: Deno.TlsConn[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from(
      { length: Math.min(100, n - i) },
      () => openWatch(p),
    );
    out.push(...await Promise.all(batch));
  }
  return out;
}

/** Waits (bounded) until the server holds no connection. */
async function untilReleased(p: ApiProcess): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await p.stats()).connections === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`connections left: ${JSON.stringify(await p.stats())}`);
}

Deno.test("finding 4: an idle watch costs <= 64 KiB resident and RSS returns within 20% after 2000 watches close", async () => {
  const p = await spawnApiProcess({ nofile: 3 * WATCHES });
  let watches: Deno.TlsConn[] = [];
  try {
    // Warm up (code compiled, pools sized), then the baseline.
    for (const c of await openWatches(p, 100)) c.close();
    await untilReleased(p);
    const base = await p.rssKiB();

    watches = await openWatches(p, WATCHES);
    await p.stats();
    const held = await p.rssKiB();
    const perWatch = (held - base) / WATCHES;
    assert(
      perWatch <= 64,
      `${perWatch.toFixed(1)} KiB per idle watch (RSS ${base} -> ${held} KiB)`,
    );

    for (const c of watches) c.close();
    watches = [];
    await untilReleased(p);
    // Bounded: V8 gives pooled pages back some seconds after a GC.
    let now = await p.rssKiB();
    for (let i = 0; i < 25 && now > 1.2 * base; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      await p.stats();
      now = await p.rssKiB();
    }
    assert(
      now <= 1.2 * base,
      `RSS ${now} KiB after the watches closed, baseline ${base} KiB`,
    );
  } finally {
    for (const c of watches) c.close();
    await p.stop();
  }
});
