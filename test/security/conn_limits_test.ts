// Finding 2 (high): idle connections crashed the process. A partial request
// head was never timed out and held 3 descriptors; ~105 of them under
// nofile=300 ended in "Uncaught (in promise) Http: Error: Too many open
// files" and the process exited. Now heads and idle connections time out,
// unfinished connections are capped, and a spent descriptor budget sheds
// idle connections instead of failing.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { ADMIN } from "../api/_fixture.ts";
import { readUntil, testServer, writeText } from "../api/_server.ts";
import { type ApiProcess, spawnApiProcess } from "./conn_server_process.ts";

const PARTIAL_HEAD = "GET /healthz HTTP/1.1\r\nHost: x\r\n";

/** Dials and sends a partial head; null when the server refused the dial. */
async function partialHead(p: ApiProcess): Promise<Deno.TlsConn | null> {
  try {
    const c = await p.dial();
    await writeText(c, PARTIAL_HEAD);
    return c;
  } catch {
    return null;
  }
}

async function healthz(p: ApiProcess): Promise<string> {
  using c = await p.dial();
  await writeText(c, `${PARTIAL_HEAD}Connection: close\r\n\r\n`);
  return await readUntil(c, "\r\n\r\n");
}

/** Resolves with what the server sent before closing (bounded wait). */
async function untilClosed(c: Deno.Conn, boundMs = 20_000): Promise<string> {
  const timer = setTimeout(() => c.close(), boundMs);
  try {
    const buf = new Uint8Array(4096);
    let text = "";
    while (true) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) return text;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("finding 2: under nofile=300 a server holding 150 idle partial heads stays alive and /healthz answers 200", async () => {
  const p = await spawnApiProcess({ nofile: 300 });
  const held: Deno.TlsConn[] = [];
  try {
    for (let i = 0; i < 150; i++) {
      const c = await partialHead(p);
      if (!c) throw new Error(`partial head ${i} was refused`);
      held.push(c);
    }
    assertEquals((await p.stats()).unfinished, 150);
    assertMatch(await healthz(p), /^HTTP\/1\.1 200/);
    // Twice the limit: the descriptor budget is spent and the longest idle
    // connections are shed; the process goes on serving.
    for (let i = 0; i < 300; i++) {
      const c = await partialHead(p);
      if (c) held.push(c);
    }
    assert(await p.alive(), "the server process exited");
    const stats = await p.stats();
    assert(stats.fds < 300, `the front holds ${stats.fds} descriptors`);
    assertMatch(await healthz(p), /^HTTP\/1\.1 200/);
  } finally {
    for (const c of held) c.close();
    const { code, log } = await p.stop();
    assertEquals(code, 0, log);
    assertMatch(log, /closed the longest idle connection .* descriptor budget/);
  }
});

Deno.test("finding 2: a partial request head is closed after the head timeout; the process lives on", async () => {
  const p = await spawnApiProcess({
    nofile: 300,
    env: { WEFT_TEST_HEAD_TIMEOUT_MS: "300" },
  });
  try {
    const c = (await partialHead(p))!;
    assertEquals(await untilClosed(c), "");
    c.close();
    // Bytes trickling in do not extend the deadline: one header line per
    // 100 ms never completes the head.
    using slow = await p.dial();
    await writeText(slow, "GET /healthz HTTP/1.1\r\n");
    const trickle = (async () => {
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 100));
        if (
          !await writeText(slow, `X-${i}: y\r\n`).then(() => true, () => false)
        ) return;
      }
    })();
    assertEquals(await untilClosed(slow), "");
    await trickle;
    assert(await p.alive(), "the server process exited");
    assertMatch(await healthz(p), /^HTTP\/1\.1 200/);
  } finally {
    const { code, log } = await p.stop();
    assertEquals(code, 0, log);
    assertMatch(log, /no complete request head within 300 ms/);
  }
});

Deno.test("finding 2: a keep-alive connection idle between requests is closed; a quiet watch is not", async () => {
  await using s = await testServer({
    limits: { idleTimeoutMs: 200, headTimeoutMs: 10_000 },
  });
  const dial = () =>
    Deno.connectTls({
      hostname: "127.0.0.1",
      port: s.server.port,
      caCerts: [s.tls.caPem],
    });
  using idle = await dial();
  await writeText(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  const text = await untilClosed(idle);
  assertMatch(text, /^HTTP\/1\.1 200/);

  using watch = await dial();
  await writeText(
    watch,
    `GET /api/v1/nodes?watch=1 HTTP/1.1\r\nHost: x\r\nAuthorization: ${ADMIN}\r\n\r\n`,
  );
  const head = await readUntil(watch, "\r\n\r\n");
  assertMatch(head, /^HTTP\/1\.1 200/);
  // Five idle timeouts without an event: the watch stays open.
  await new Promise((r) => setTimeout(r, 1000));
  const res = await fetch(`${s.url}/api/v1/nodes`, {
    client: s.client,
    method: "POST",
    headers: { authorization: ADMIN },
    body: JSON.stringify({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "late" },
    }),
  });
  assertEquals(res.status, 201);
  await res.body?.cancel();
  assertMatch(head + await readUntil(watch, '"late"'), /"ADDED"/);
});

Deno.test("finding 2: more unfinished connections than the cap close the oldest first", async () => {
  const logs: string[] = [];
  await using s = await testServer({
    limits: { maxUnfinished: 3 },
    log: (m) => logs.push(m),
  });
  const dial = () =>
    Deno.connectTls({
      hostname: "127.0.0.1",
      port: s.server.port,
      caCerts: [s.tls.caPem],
    });
  const conns: Deno.TlsConn[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const c = await dial();
      await writeText(c, PARTIAL_HEAD);
      conns.push(c);
      // Each is accepted before the next (the oldest is well defined).
      for (let j = 0; j < 200 && s.server.stats().connections <= i; j++) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    assertEquals(await untilClosed(conns[0]), "");
    assertEquals(s.server.stats().unfinished, 3);
    await writeText(conns[3], "Connection: close\r\n\r\n");
    assertMatch(await untilClosed(conns[3]), /^HTTP\/1\.1 200/);
    assert(
      logs.some((l) => l.includes("without a complete request head")),
      logs.join("\n"),
    );
  } finally {
    for (const c of conns) c.close();
  }
});
