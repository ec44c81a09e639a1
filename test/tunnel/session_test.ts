import { assert, assertEquals, assertRejects } from "@std/assert";
import { createHash } from "node:crypto";
import {
  decodeFrame,
  encodeFrame,
  type Frame,
  MAX_FRAME,
} from "../../src/tunnel/frame.ts";
import { StreamError } from "../../src/tunnel/errors.ts";
import { sessionOn } from "../../src/tunnel/socket.ts";
import { PAUSE_AT } from "../../src/tunnel/stream.ts";
import { SOCKET_HIGH } from "../../src/tunnel/session.ts";
import {
  openWs,
  patternBytes,
  sessionPair,
  tcpServer,
  waitFor,
  writeAll,
  wsServer,
} from "./_pair.ts";

const dialLocal = (target: string) => {
  const i = target.lastIndexOf(":");
  return Deno.connect({
    hostname: target.slice(0, i),
    port: Number(target.slice(i + 1)),
  });
};

const MiB = 1024 * 1024;

Deno.test("session: 100 concurrent streams of 8 MiB arrive intact", async () => {
  // Each connection reads a 4-byte seed and answers 8 MiB made from it.
  await using src = tcpServer(async (conn) => {
    const seed = new Uint8Array(4);
    let got = 0;
    while (got < 4) {
      const n = await conn.read(seed.subarray(got));
      if (n === null) return;
      got += n;
    }
    const data = patternBytes(new DataView(seed.buffer).getUint32(0), 8 * MiB);
    await writeAll(conn, data);
  });
  await using pair = await sessionPair({ accept: dialLocal });
  const one = async (i: number) => {
    const s = await pair.server.open(`127.0.0.1:${src.port}`);
    const seed = new Uint8Array(4);
    new DataView(seed.buffer).setUint32(0, 1000 + i);
    await s.write(seed);
    const h = createHash("sha256");
    let n = 0;
    for (let c = await s.read(); c !== null; c = await s.read()) {
      h.update(c);
      n += c.length;
    }
    s.closeWrite();
    const want = createHash("sha256").update(patternBytes(1000 + i, 8 * MiB))
      .digest("hex");
    assertEquals(n, 8 * MiB);
    assertEquals(h.digest("hex"), want, `stream ${i}`);
  };
  await Promise.all(Array.from({ length: 100 }, (_, i) => one(i)));
  assert(!pair.server.closed && !pair.agent.closed);
});

Deno.test("session: a reader that stops reading bounds the buffered bytes", async () => {
  const total = 64 * MiB;
  await using src = tcpServer((conn) => writeAll(conn, new Uint8Array(total)));
  await using pair = await sessionPair({ accept: dialLocal });
  const s = await pair.server.open(`127.0.0.1:${src.port}`);
  await waitFor(() => pair.agent.streams.size === 1, "the agent's stream");
  const sender = [...pair.agent.streams.values()][0];
  // Nobody reads: wait until the sender is paused and all it sent arrived.
  await waitFor(
    () => sender.paused && pair.server.bufferedBytes() === sender.sentBytes,
    "the sender to pause",
  );
  const held = pair.server.bufferedBytes();
  console.log(`held ${held} bytes of ${total} (pause at ${PAUSE_AT})`);
  assert(held >= PAUSE_AT, `paused below the threshold: ${held}`);
  // The bound: the pause threshold plus what can be in flight when the pause
  // reaches the sender: its socket's high-water mark, and as much again in
  // kernel and websocket buffers.
  const bound = PAUSE_AT + 2 * SOCKET_HIGH;
  assert(held <= bound, `buffered ${held} bytes`);
  assert(sender.sentBytes < total);
  // Reading everything resumes the sender and delivers every byte.
  let n = 0;
  for (let c = await s.read(); c !== null; c = await s.read()) {
    n += c.length;
    assert(c.every((b) => b === 0));
  }
  assertEquals(n, total);
  assert(s.maxBuffered <= bound, `max ${s.maxBuffered}`);
});

Deno.test("session: a denied destination gets an error, the session stays up", async () => {
  await using echo = tcpServer(async (conn) => {
    const b = new Uint8Array(100);
    const n = await conn.read(b);
    if (n) await writeAll(conn, b.subarray(0, n));
  });
  await using pair = await sessionPair({
    accept: (t) =>
      t.endsWith(`:${echo.port}`)
        ? dialLocal(t)
        : Promise.reject(new Error(`denied: ${t}`)),
  });
  await assertRejects(
    () => pair.server.open("10.9.8.7:22"),
    StreamError,
    "denied: 10.9.8.7:22",
  );
  assert(!pair.server.closed && !pair.agent.closed);
  const s = await pair.server.open(`127.0.0.1:${echo.port}`);
  await s.write(new TextEncoder().encode("hello"));
  assertEquals(new TextDecoder().decode((await s.read())!), "hello");
  assertEquals(await s.read(), null);
  s.closeWrite();
});

Deno.test("session: a failing dial is an error frame, not a session loss", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await using pair = await sessionPair({ accept: dialLocal });
  await assertRejects(() => pair.server.open(`127.0.0.1:${port}`), StreamError);
  assert(!pair.server.closed);
});

for (
  const [name, msg, reason] of [
    ["a malformed frame", new Uint8Array([42, 0, 0, 0, 1]), "unknown frame"],
    ["an oversized frame", new Uint8Array(MAX_FRAME + 1).fill(2), "exceeds"],
    ["a text message", "hello", "non-binary"],
  ] as const
) {
  Deno.test(`session: ${name} closes that session only`, async () => {
    await using pair = await sessionPair();
    pair.agentSocket.send(msg);
    const why = await pair.server.done;
    assert(why.includes(reason), why);
    await pair.agent.done;
    // The process (and a new session) carries on.
    await using again = await sessionPair({
      accept: () => Promise.reject(new Error("no")),
    });
    await assertRejects(
      () => again.server.open("1.2.3.4:5"),
      StreamError,
      "no",
    );
  });
}

Deno.test("session: data for an unknown stream is answered with an error", async () => {
  await using pair = await sessionPair();
  const got = Promise.withResolvers<Frame>();
  pair.agentSocket.addEventListener("message", (e) => {
    const f = decodeFrame(e.data);
    if (f.type === "error") got.resolve(f);
  });
  pair.agentSocket.send(
    encodeFrame({ type: "data", id: 77, data: new Uint8Array([1]) }),
  );
  assertEquals(await got.promise, {
    type: "error",
    id: 77,
    message: "connection not found",
  });
  assert(!pair.server.closed);
});

Deno.test("session: a silent peer is detected as dead", async () => {
  const got = Promise.withResolvers<ReturnType<typeof sessionOn>>();
  const srv = wsServer((ws) =>
    got.resolve(
      sessionOn(ws, { role: "server", keepaliveMs: 10, deadAfterMs: 100 }),
    )
  );
  const raw = await openWs(srv.port); // never sends anything
  const s = await got.promise;
  const why = await s.done;
  assert(why.includes("peer sent nothing"), why);
  raw.close();
  await srv.shutdown();
});

Deno.test("session: pings keep an idle session alive", async () => {
  await using pair = await sessionPair(
    { keepaliveMs: 20, deadAfterMs: 500 },
    { keepaliveMs: 20, deadAfterMs: 500 },
  );
  await new Promise((r) => setTimeout(r, 1500));
  assert(!pair.server.closed && !pair.agent.closed);
});

Deno.test("session: sync closes streams the peer no longer lists", async () => {
  const got = Promise.withResolvers<ReturnType<typeof sessionOn>>();
  const srv = wsServer((ws) =>
    got.resolve(sessionOn(ws, { role: "server", syncMs: 20 }))
  );
  const raw = await openWs(srv.port);
  const server = await got.promise;
  // The raw peer acknowledges each connect, then lists no streams.
  raw.addEventListener("message", (e) => {
    const f = decodeFrame(e.data);
    if (f.type === "connect") {
      raw.send(encodeFrame({ type: "connect", id: f.id, target: "" }));
    }
  });
  const s = await server.open("127.0.0.1:1");
  assertEquals(server.streams.size, 1);
  await new Promise((r) => setTimeout(r, 30));
  // A listed stream survives: the reply to a probe proves the sync before
  // it was handled (frames are handled in order).
  const probed = Promise.withResolvers<void>();
  raw.addEventListener("message", (e) => {
    const f = decodeFrame(e.data);
    if (f.type === "error" && f.id === 999) probed.resolve();
  });
  raw.send(encodeFrame({ type: "sync", ids: [s.id] }));
  raw.send(encodeFrame({ type: "data", id: 999, data: new Uint8Array(1) }));
  await probed.promise;
  assertEquals(server.streams.size, 1);
  raw.send(encodeFrame({ type: "sync", ids: [] }));
  await assertRejects(() => s.read(), StreamError, "no longer lists");
  assertEquals(server.streams.size, 0);
  server.close("done");
  raw.close();
  await srv.shutdown();
});

Deno.test("session: a bad target from the server is refused, the agent carries on", async () => {
  await using pair = await sessionPair({
    accept: (t) => {
      const i = t.lastIndexOf(":");
      if (i < 0) throw new TypeError(`bad target ${JSON.stringify(t)}`);
      return Promise.reject(new Error("unreachable"));
    },
  });
  await assertRejects(
    () => pair.server.open("nonsense"),
    StreamError,
    'bad target "nonsense"',
  );
  assert(!pair.agent.closed && !pair.server.closed);
});

Deno.test("session: open() gives up on an agent that never answers", async () => {
  const got = Promise.withResolvers<ReturnType<typeof sessionOn>>();
  const srv = wsServer((ws) =>
    got.resolve(sessionOn(ws, { role: "server", openTimeoutMs: 50 }))
  );
  const raw = await openWs(srv.port); // reads frames, answers none
  const server = await got.promise;
  await assertRejects(
    () => server.open("127.0.0.1:1"),
    StreamError,
    "no answer from the agent",
  );
  assert(!server.closed);
  server.close("done");
  raw.close();
  await srv.shutdown();
});

Deno.test("session: a half-close crosses the tunnel both ways", async () => {
  // Answers the byte count once the client has finished writing.
  await using counter = tcpServer(async (conn) => {
    let n = 0;
    const b = new Uint8Array(65536);
    for (let r = await conn.read(b); r !== null; r = await conn.read(b)) n += r;
    await writeAll(conn, new TextEncoder().encode(`got ${n}`));
  });
  await using pair = await sessionPair({ accept: dialLocal });
  const s = await pair.server.open(`127.0.0.1:${counter.port}`);
  await s.write(new Uint8Array(100_000));
  s.closeWrite();
  let text = "";
  for (let c = await s.read(); c !== null; c = await s.read()) {
    text += new TextDecoder().decode(c);
  }
  assertEquals(text, "got 100000");
  assertEquals(pair.server.streams.size, 0);
  await waitFor(() => pair.agent.streams.size === 0, "the agent to forget it");
});
