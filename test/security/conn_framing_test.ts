// The front listener reads every request head itself (finding 2: bounded
// connections; finding 4: bodyless requests answered in process). Hostile
// or unusual HTTP/1.1 it must get right: ambiguous framing refused, an
// oversized head refused, a Host header that tries to change the path,
// pipelined requests, and chunked bodies piped intact.

import { assertEquals, assertMatch } from "@std/assert";
import { ADMIN } from "../api/_fixture.ts";
import { dial, testServer, writeText } from "../api/_server.ts";

/** Everything the server sends until it closes (bounded). */
async function untilClosed(c: Deno.Conn): Promise<string> {
  const timer = setTimeout(() => c.close(), 10_000);
  const buf = new Uint8Array(16 * 1024);
  let text = "";
  try {
    while (true) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) return text;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("front: Content-Length together with Transfer-Encoding is refused 400", async () => {
  await using s = await testServer();
  using c = await dial(s);
  await writeText(
    c,
    `POST /api/v1/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN}\r\n` +
      `Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  );
  assertMatch(await untilClosed(c), /^HTTP\/1\.1 400 /);
});

Deno.test("front: a head longer than 64 KiB is refused 431", async () => {
  await using s = await testServer();
  using c = await dial(s);
  await writeText(
    c,
    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(70_000)}\r\n\r\n`,
  ).catch(() => {});
  assertMatch(await untilClosed(c), /^HTTP\/1\.1 431 /);
});

Deno.test("front: a Host header with a path does not change the route", async () => {
  await using s = await testServer();
  using c = await dial(s);
  await writeText(
    c,
    "GET /api/v1/nodes HTTP/1.1\r\nHost: x/healthz#\r\nConnection: close\r\n\r\n",
  );
  // Without credentials /api/v1/nodes is 401; /healthz would be 200.
  assertMatch(await untilClosed(c), /^HTTP\/1\.1 401 /);
});

Deno.test("front: pipelined requests are answered in order; a chunked body is piped intact", async () => {
  await using s = await testServer();
  using c = await dial(s);
  const node = JSON.stringify({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "chunky" },
  });
  const half = Math.floor(node.length / 2);
  const chunked = `${half.toString(16)}\r\n${node.slice(0, half)}\r\n` +
    `${(node.length - half).toString(16)}\r\n${node.slice(half)}\r\n0\r\n\r\n`;
  await writeText(
    c,
    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" +
      `POST /api/v1/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN}\r\n` +
      `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}` +
      `GET /api/v1/nodes/chunky HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN}\r\nConnection: close\r\n\r\n`,
  );
  const text = await untilClosed(c);
  const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assertEquals(statuses, ["200", "201", "200"]);
  assertMatch(text, /"name":"chunky"/);
});
