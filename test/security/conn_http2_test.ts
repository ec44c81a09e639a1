// Finding 10 (low): the internal server answered an HTTP/2 preface (SETTINGS,
// 200 streams) behind a front that offers only http/1.1: an unauthenticated
// HTTP/2 surface nobody meant to expose. The front now refuses the preface
// before anything reaches the internal server.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { readUntil, testServer, writeText } from "../api/_server.ts";

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/** An empty SETTINGS frame (length 0, type 4, flags 0, stream 0). */
const SETTINGS = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]);

async function readAll(c: Deno.Conn, boundMs = 10_000): Promise<Uint8Array> {
  const timer = setTimeout(() => c.close(), boundMs);
  const parts: number[] = [];
  const buf = new Uint8Array(4096);
  try {
    while (true) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) return new Uint8Array(parts);
      parts.push(...buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("finding 10: a prior-knowledge HTTP/2 preface gets no SETTINGS back, only an HTTP/1.1 refusal", async () => {
  await using s = await testServer();
  const c = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: s.server.port,
    caCerts: [s.tls.caPem],
    alpnProtocols: ["h2", "http/1.1"],
  });
  try {
    const hs = await c.handshake();
    assertEquals(hs.alpnProtocol, "http/1.1");
    await c.write(new TextEncoder().encode(PREFACE));
    await c.write(SETTINGS);
    const got = await readAll(c);
    // An HTTP/2 server's first frame is SETTINGS: type byte 4 at offset 3.
    assert(got.length < 9 || got[3] !== 4, "the server answered HTTP/2");
    assertMatch(new TextDecoder().decode(got), /^HTTP\/1\.1 505 /);
  } finally {
    c.close();
  }
});

Deno.test("finding 10: an HTTP/2 preface after an HTTP/1.1 request is refused and the connection closed", async () => {
  await using s = await testServer();
  const c = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: s.server.port,
    caCerts: [s.tls.caPem],
  });
  try {
    await writeText(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assertMatch(await readUntil(c, "ok"), /^HTTP\/1\.1 200 /);
    await writeText(c, PREFACE);
    await c.write(SETTINGS).catch(() => 0);
    const got = await readAll(c);
    assert(got.length < 9 || got[3] !== 4, "the server answered HTTP/2");
    assertMatch(new TextDecoder().decode(got), /^HTTP\/1\.1 505 /);
  } finally {
    c.close();
  }
});
