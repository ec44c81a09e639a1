import { assertEquals, assertMatch } from "@std/assert";
import { ADMIN } from "./_fixture.ts";
import { testServer } from "./_server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function readUntil(conn: Deno.Conn, marker: string): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!text.includes(marker)) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += dec.decode(buf.subarray(0, n));
  }
  return text;
}

Deno.test("CONNECT: bytes sent in the same write as the head reach the handler first", async () => {
  await using s = await testServer({
    connect: async (conn) => {
      await conn.write(
        enc.encode("HTTP/1.1 200 Connection established\r\n\r\n"),
      );
      const got = await readUntil(conn, "\n");
      await conn.write(enc.encode(`echo:${got}`));
    },
  });
  using conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: s.server.port,
    caCerts: [s.tls.caPem],
  });
  // One write: the head and the first tunnel bytes behind it.
  await conn.write(enc.encode(
    `CONNECT 10.42.1.5:80 HTTP/1.1\r\nAuthorization: ${ADMIN}\r\n\r\nearly\n`,
  ));
  // Without the early bytes the handler would wait forever: bound it.
  const timer = setTimeout(() => conn.close(), 10_000);
  const reply = await readUntil(conn, "early\n").finally(() =>
    clearTimeout(timer)
  );
  assertMatch(reply, /^HTTP\/1\.1 200/);
  assertEquals(reply.slice(reply.indexOf("\r\n\r\n") + 4), "echo:early\n");
});
