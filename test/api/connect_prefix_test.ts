import { assertEquals, assertMatch } from "@std/assert";
import { ADMIN } from "./_fixture.ts";
import { dial, readUntil, testServer } from "./_server.ts";

const enc = new TextEncoder();

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
  using conn = await dial(s);
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
