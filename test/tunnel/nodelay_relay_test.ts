import { assert, assertEquals } from "@std/assert";
import { startNoDelayRelay } from "../../src/tunnel/nodelay_relay.ts";
import { localTlsListener } from "./_tls_listener.ts";

async function writeAll(c: Deno.Conn, b: Uint8Array): Promise<void> {
  for (let off = 0; off < b.length;) off += await c.write(b.subarray(off));
}

async function readAll(c: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (let n = await c.read(buf); n !== null; n = await c.read(buf)) {
    parts.push(buf.slice(0, n));
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A TLS server that echoes each connection until EOF. */
async function tlsEcho(dir: string, name: string) {
  const { listener: l, caPem } = await localTlsListener(`${dir}/${name}`);
  const serving = (async () => {
    for await (const c of l) {
      (async () => {
        const buf = new Uint8Array(64 * 1024);
        for (let n = await c.read(buf); n !== null; n = await c.read(buf)) {
          await writeAll(c, buf.subarray(0, n));
        }
        await c.closeWrite();
      })().catch(() => {}).finally(() => c.close());
    }
  })().catch(() => {});
  return {
    caPem,
    port: (l.addr as Deno.NetAddr).port,
    async close() {
      l.close();
      await serving;
    },
  };
}

Deno.test("nodelay relay: carries bytes both ways over TLS, half-close included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-relay-test-" });
  const echo = await tlsEcho(dir, "a");
  const relay = await startNoDelayRelay(
    "127.0.0.1",
    echo.port,
    echo.caPem,
    () => {},
  );
  try {
    const c = await Deno.connect({ transport: "unix", path: relay.path });
    const data = crypto.getRandomValues(new Uint8Array(60_000));
    const [, back] = await Promise.all([
      writeAll(c, data).then(() => c.closeWrite()),
      readAll(c),
    ]);
    c.close();
    assertEquals(back, data);
  } finally {
    await relay.close();
    await echo.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nodelay relay: a server outside the CA is refused; dropConnections ends relayed connections", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-relay-test-" });
  const trusted = await tlsEcho(dir, "trusted");
  const other = await tlsEcho(dir, "other");
  const logs: string[] = [];
  const wrong = await startNoDelayRelay(
    "127.0.0.1",
    other.port,
    trusted.caPem,
    (m) => logs.push(m),
  );
  const right = await startNoDelayRelay(
    "127.0.0.1",
    trusted.port,
    trusted.caPem,
    () => {},
  );
  try {
    const c = await Deno.connect({ transport: "unix", path: wrong.path });
    await c.write(new Uint8Array([1, 2, 3])).catch(() => 0);
    assertEquals((await readAll(c).catch(() => new Uint8Array())).length, 0);
    c.close();
    assert(
      logs.some((l) => l.includes(`127.0.0.1:${other.port}`)),
      `no log of the refused server: ${JSON.stringify(logs)}`,
    );

    const d = await Deno.connect({ transport: "unix", path: right.path });
    await writeAll(d, new Uint8Array([7]));
    const one = new Uint8Array(1);
    assertEquals(await d.read(one), 1);
    right.dropConnections();
    // The relayed connection ends: EOF or a reset, never more bytes.
    const rest = await d.read(one).catch(() => null);
    assertEquals(rest, null);
    d.close();
  } finally {
    await wrong.close();
    await right.close();
    await trusted.close();
    await other.close();
    await Deno.remove(dir, { recursive: true });
  }
});
