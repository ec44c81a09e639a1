import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  closePayload,
  encodeWsFrame,
  OP,
  parseClose,
  WS_CLOSE,
  WsDecoder,
  WsProtocolError,
  xorMask,
} from "../../src/tunnel/ws_frame.ts";
import {
  acceptFor,
  checkUpgradeRequest,
  HandshakeError,
  parseHead,
} from "../../src/tunnel/ws_handshake.ts";
import { MAX_FRAME } from "../../src/tunnel/frame.ts";
import { runTunnelAgent } from "../../src/tunnel/mod.ts";
import { cluster, node, nodeToken, startAgent } from "./_cluster.ts";
import { patternBytes, tcpServer, waitFor, writeAll } from "./_pair.ts";
import { createHash } from "node:crypto";
import { localTlsListener } from "./_tls_listener.ts";

const MB50 = 50 * 1024 * 1024;

/** Decodes `bytes` fed in pieces of `step`; returns messages and controls. */
function decodeAll(bytes: Uint8Array, masked: boolean, step: number) {
  const msgs: [Uint8Array, boolean][] = [];
  const ctl: [number, Uint8Array][] = [];
  const d = new WsDecoder({
    maxMessage: 1 << 20,
    masked,
    onMessage: (m, b) => msgs.push([m, b]),
    onControl: (op, p) => ctl.push([op, p]),
  });
  for (let i = 0; i < bytes.length; i += step) {
    d.push(bytes.subarray(i, i + step));
  }
  return { msgs, ctl };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("ws frame: messages of every length class round-trip, masked or not, in any pieces", () => {
  for (const len of [0, 1, 125, 126, 65535, 65536, 300_001]) {
    const data = patternBytes(len + 1, len);
    for (const masked of [true, false]) {
      const wire = encodeWsFrame(OP.binary, data, masked);
      for (const step of [1, 7, 4096, wire.length]) {
        if (step === 1 && len > 70_000) continue;
        const { msgs } = decodeAll(wire, masked, step);
        assertEquals(msgs.length, 1);
        assertEquals(msgs[0][1], true);
        assertEquals(msgs[0][0], data);
      }
    }
  }
});

/** Feeds `bytes` as a transport does: each read of at most `step` bytes goes
 * into the decoder's target() when it offers one, else through push(). */
function readAll(d: WsDecoder, bytes: Uint8Array, step: number): number {
  let direct = 0;
  for (let off = 0; off < bytes.length;) {
    const into = d.target();
    const n = Math.min(step, bytes.length - off, into?.length ?? step);
    if (into) {
      into.set(bytes.subarray(off, off + n));
      d.filled(n);
      direct += n;
    } else d.push(bytes.subarray(off, off + n));
    off += n;
  }
  return direct;
}

Deno.test("ws frame: reads straight into a large payload (target/filled) decode the same, masked or not", () => {
  const a = patternBytes(3, 300_001);
  const b = patternBytes(9, 70_000);
  const c = patternBytes(1, 20);
  for (const masked of [true, false]) {
    const frag = encodeWsFrame(OP.binary, b, masked);
    frag[0] &= 0x7f; // not final: a continuation follows
    const wire = concat(
      encodeWsFrame(OP.binary, a, masked),
      encodeWsFrame(OP.binary, c, masked),
      frag,
      encodeWsFrame(OP.ping, c, masked),
      encodeWsFrame(OP.continuation, a, masked),
    );
    for (const step of [5, 4093, 16384, 65536]) {
      const msgs: Uint8Array[] = [];
      const ctl: number[] = [];
      const d = new WsDecoder({
        maxMessage: 1 << 20,
        masked,
        onMessage: (m) => msgs.push(m.slice()),
        onControl: (op) => ctl.push(op),
      });
      const direct = readAll(d, wire, step);
      assertEquals(msgs, [a, c, concat(b, a)]);
      assertEquals(ctl, [OP.ping]);
      // Most of the bulk bytes went straight into their payloads.
      assert(direct > (a.length * 2 + b.length) / 2, `direct ${direct}`);
    }
  }
});

Deno.test("ws frame: a frame over the limit offers no buffer to read into; its header alone is refused (1009)", () => {
  const d = new WsDecoder({
    maxMessage: 100_000,
    masked: true,
    onMessage: () => {},
    onControl: () => {},
  });
  const ok = encodeWsFrame(OP.binary, new Uint8Array(50_000), true);
  d.push(ok.subarray(0, 8)); // header and a little payload
  // 8 bytes in: a 4-byte header with its 4-byte mask key, no payload yet.
  assertEquals(d.target()?.length, 50_000);
  d.filled(d.target()!.length);
  assertEquals(d.target(), null); // between frames: nothing to read into
  const big = encodeWsFrame(OP.binary, new Uint8Array(100_001), true);
  const err = assertThrows(
    () => d.push(big.subarray(0, 14)),
    WsProtocolError,
    "exceeds 100000",
  );
  assertEquals(err.code, WS_CLOSE.tooBig);
});

Deno.test("ws frame: fragments are joined; control frames may come between them", () => {
  const frag = (fin: boolean, op: number, p: Uint8Array) => {
    const f = encodeWsFrame(op, p, false);
    if (!fin) f[0] &= 0x7f;
    return f;
  };
  const wire = concat(
    frag(false, OP.binary, new Uint8Array([1, 2])),
    encodeWsFrame(OP.ping, new Uint8Array([9]), false),
    frag(false, OP.continuation, new Uint8Array([3])),
    frag(true, OP.continuation, new Uint8Array([4, 5])),
    encodeWsFrame(OP.text, new TextEncoder().encode("hi"), false),
  );
  const { msgs, ctl } = decodeAll(wire, false, 3);
  assertEquals(msgs.map(([m, b]) => [[...m], b]), [
    [[1, 2, 3, 4, 5], true],
    [[104, 105], false],
  ]);
  assertEquals(ctl.map(([op, p]) => [op, [...p]]), [[OP.ping, [9]]]);
});

Deno.test("ws frame: xorMask is its own inverse at any alignment and phase", () => {
  const mask = new Uint8Array([0x12, 0x34, 0x56, 0x78]);
  const base = patternBytes(3, 1000);
  for (const off of [0, 1, 2, 3]) {
    for (const phase of [0, 1, 2, 3]) {
      const buf = new Uint8Array(1004);
      buf.set(base, off);
      const view = buf.subarray(off, off + 1000);
      xorMask(view, mask, phase);
      for (let i = 0; i < 1000; i++) {
        assertEquals(view[i], base[i] ^ mask[(phase + i) & 3]);
      }
      xorMask(view, mask, phase);
      assertEquals(view, base);
    }
  }
});

Deno.test("ws frame: protocol violations are WsProtocolErrors with their close code", () => {
  const cases: [number[], boolean, string, number][] = [
    [[0x82, 0x01, 0], true, "not masked", WS_CLOSE.protocol],
    [[0x82, 0x81, 0, 0, 0, 0, 0], false, "is masked", WS_CLOSE.protocol],
    [[0xc2, 0x00], false, "reserved bits", WS_CLOSE.protocol],
    [[0x83, 0x00], false, "unknown opcode 3", WS_CLOSE.protocol],
    [[0x8b, 0x00], false, "unknown opcode 11", WS_CLOSE.protocol],
    [[0x09, 0x00], false, "fragmented control", WS_CLOSE.protocol],
    [[0x89, 0x7e, 0, 126], false, "control frame of 126", WS_CLOSE.protocol],
    [[0x80, 0x00], false, "continuation without", WS_CLOSE.protocol],
    [[0x02, 0x00, 0x82, 0x00], false, "inside a fragmented", WS_CLOSE.protocol],
    [
      [0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      false,
      "exceeds",
      WS_CLOSE.tooBig,
    ],
  ];
  for (const [bytes, masked, msg, code] of cases) {
    const e = assertThrows(
      () => decodeAll(new Uint8Array(bytes), masked, 1),
      WsProtocolError,
      msg,
    );
    assertEquals((e as WsProtocolError).code, code, msg);
  }
});

Deno.test("ws frame: the size limit counts every fragment of a message, from headers alone", () => {
  const d = new WsDecoder({
    maxMessage: 100,
    masked: false,
    onMessage: () => {},
    onControl: () => {},
  });
  const first = encodeWsFrame(OP.binary, new Uint8Array(60), false);
  first[0] &= 0x7f;
  d.push(first);
  // The second fragment's header alone (no payload) is enough to refuse.
  const second = encodeWsFrame(OP.continuation, new Uint8Array(41), false);
  assertThrows(
    () => d.push(second.subarray(0, 2)),
    WsProtocolError,
    "message of 101 bytes exceeds 100",
  );
});

Deno.test("ws frame: close payloads", () => {
  assertEquals(parseClose(closePayload(4009, "too big")), {
    code: 4009,
    reason: "too big",
  });
  assertEquals(parseClose(new Uint8Array(0)).code, WS_CLOSE.noStatus);
  assertEquals(closePayload(1000, "é".repeat(100)).length <= 125, true);
  assertThrows(() => parseClose(new Uint8Array([3])), WsProtocolError);
  assertThrows(() => parseClose(closePayload(1005, "")), WsProtocolError);
  assertThrows(
    () => parseClose(new Uint8Array([3, 232, 0xff])),
    WsProtocolError,
    "UTF-8",
  );
});

Deno.test("ws frame: seeded random input only ever raises WsProtocolError", () => {
  let x = 0x9e3779b9;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  for (let run = 0; run < 2000; run++) {
    const masked = rnd() < 0.5;
    const d = new WsDecoder({
      maxMessage: 4096,
      masked,
      onMessage: () => {},
      onControl: () => {},
    });
    const bytes = new Uint8Array(1 + Math.floor(rnd() * 300));
    for (let i = 0; i < bytes.length; i++) bytes[i] = rnd() * 256;
    // Mostly valid-looking first bytes, so the fuzz gets past the header.
    if (rnd() < 0.7) {
      bytes[0] = (rnd() < 0.5 ? 0x80 : 0) | [0, 1, 2, 8, 9, 10][run % 6];
    }
    if (rnd() < 0.7 && bytes.length > 1) {
      bytes[1] = (masked ? 0x80 : 0) | (bytes[1] & 0x7f);
    }
    try {
      for (let i = 0; i < bytes.length; i += 1 + Math.floor(rnd() * 40)) {
        d.push(bytes.subarray(i, i + 1 + Math.floor(rnd() * 40)));
      }
    } catch (e) {
      if (!(e instanceof WsProtocolError)) throw e;
    }
  }
});

Deno.test("ws handshake: upgrade requests are checked; the accept key is RFC 6455's", async () => {
  // The example of RFC 6455 section 1.3.
  assertEquals(
    await acceptFor("dGhlIHNhbXBsZSBub25jZQ=="),
    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
  );
  const head = (extra: string) =>
    parseHead(
      `GET /v1-weft/connect HTTP/1.1\r\nHost: x\r\n${extra}`,
    );
  const ok = "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
  assertEquals(checkUpgradeRequest(head(ok)), "dGhlIHNhbXBsZSBub25jZQ==");
  for (
    const [bad, msg] of [
      [ok.replace("websocket", "h2c"), "websocket upgrade"],
      [ok.replace("keep-alive, Upgrade", "keep-alive"), "Connection: Upgrade"],
      [ok.replace("Version: 13", "Version: 8"), "must be 13"],
      [ok.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), "16 bytes"],
      [ok.replace("dGhlIHNhbXBsZSBub25jZQ==", "!!"), "16 bytes"],
    ]
  ) assertThrows(() => checkUpgradeRequest(head(bad)), HandshakeError, msg);
  assertThrows(
    () => parseHead("GET / HTTP/1.1\r\nno colon here"),
    HandshakeError,
    "malformed header",
  );
});

/** Reads from `conn` until `n` bytes or EOF. */
async function readSome(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got)).catch(() => null);
    if (r === null) break;
    got += r;
  }
  return out.subarray(0, got);
}

/** The close frame at the start of `b` (unmasked): its code and reason. */
function closeOf(b: Uint8Array): { code: number; reason: string } {
  assertEquals(b[0], 0x80 | OP.close, `not a close frame: ${b.slice(0, 4)}`);
  return parseClose(b.subarray(2, 2 + (b[1] & 0x7f)));
}

Deno.test("tunnel server: a 50 MB message is refused from its frame header (1009), before its body is sent", async () => {
  await using c = await cluster({
    mode: "agent",
    nodes: [node("a", "127.0.0.2", "10.42.0.0/24")],
    nodeEndpointPort: 10250,
  });
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: c.port,
    caCerts: [c.caPem],
  });
  try {
    await conn.write(new TextEncoder().encode(
      `GET /v1-weft/connect HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `Authorization: Bearer ${nodeToken("a")}\r\n\r\n`,
    ));
    const head = new TextDecoder().decode(await readSome(conn, 129));
    assert(head.startsWith("HTTP/1.1 101 "), head);
    await waitFor(() => c.tunnel.sessions.has("a"), "the session");
    const session = c.tunnel.sessions.get("a")!;
    // A masked binary frame header announcing 50 MB; no payload follows.
    const h = new Uint8Array(14);
    h[0] = 0x82;
    h[1] = 0x80 | 127;
    new DataView(h.buffer).setBigUint64(2, BigInt(MB50));
    await conn.write(h);
    const why = await session.done;
    assert(why.includes(`message of ${MB50} bytes exceeds ${MAX_FRAME}`), why);
    // The server says why with 1009 and closes: the 50 MB were never needed.
    const rest = await readSome(conn, 1024);
    assertEquals(closeOf(rest).code, WS_CLOSE.tooBig);
    assertEquals(c.tunnel.sessions.has("a"), false);
  } finally {
    conn.close();
  }
});

Deno.test("tunnel agent: a 50 MB message from the server is refused from its frame header (1009)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-tunnel-big-" });
  const { listener, caPem } = await localTlsListener(dir);
  const states: string[] = [];
  const ac = new AbortController();
  try {
    const served = (async () => {
      const conn = await listener.accept();
      try {
        const b = new Uint8Array(4096);
        let text = "";
        while (!text.includes("\r\n\r\n")) {
          const n = await conn.read(b);
          if (n === null) throw new Error("agent went away");
          text += new TextDecoder().decode(b.subarray(0, n));
        }
        const key = text.match(/sec-websocket-key:\s*(\S+)/i)![1];
        const h = new Uint8Array(10);
        h[0] = 0x82;
        h[1] = 127;
        new DataView(h.buffer).setBigUint64(2, BigInt(MB50));
        await conn.write(new TextEncoder().encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
            `Connection: Upgrade\r\nSec-WebSocket-Accept: ${await acceptFor(
              key,
            )}\r\n\r\n`,
        ));
        await conn.write(h);
        // What the agent answers: a masked close frame, then EOF.
        const got = await readSome(conn, 1024);
        const mask = got.subarray(2, 6);
        const payload = got.slice(6, 6 + (got[1] & 0x7f));
        xorMask(payload, mask);
        assertEquals(got[0], 0x80 | OP.close);
        return parseClose(payload);
      } finally {
        conn.close();
      }
    })();
    const run = runTunnelAgent({
      servers: [`https://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`],
      caPem,
      token: "t",
      nodeName: "n",
      mode: "agent",
      podCIDRs: [],
      clusterCIDRs: [],
      nodeIPs: [],
      backoffMs: { min: 60_000, max: 60_000 },
      onState: (_s, st, why) => states.push(why ? `${st}: ${why}` : st),
    }, { signal: ac.signal, ready: () => {}, log: () => {} });
    const closed = await served;
    assertEquals(closed.code, WS_CLOSE.tooBig);
    assert(closed.reason.includes("exceeds"), closed.reason);
    await waitFor(
      () => states.some((s) => s.startsWith("waiting") && s.includes("1009")),
      "the agent to drop the session",
    );
    ac.abort();
    await run;
  } finally {
    ac.abort();
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tunnel: bytes cross the agent's TLS websocket intact both ways (8 MiB each, masked and not)", async () => {
  const MiB = 1024 * 1024;
  // Reads 8 MiB, answers its SHA-256, then 8 MiB of pattern bytes.
  await using peer = tcpServer(async (conn) => {
    const h = createHash("sha256");
    const b = new Uint8Array(65536);
    for (let n = 0; n < 8 * MiB;) {
      const r = await conn.read(b.subarray(0, Math.min(b.length, 8 * MiB - n)));
      if (r === null) return;
      h.update(b.subarray(0, r));
      n += r;
    }
    await writeAll(conn, new TextEncoder().encode(h.digest("hex")));
    await writeAll(conn, patternBytes(7, 8 * MiB));
  });
  await using c = await cluster({
    mode: "agent",
    nodes: [node("a", "127.0.0.2", "10.42.0.0/24")],
    nodeEndpointPort: peer.port,
  });
  await using agent = startAgent(c, "a", { nodeEndpointPort: peer.port });
  await agent.ready;
  await waitFor(() => c.tunnel.sessions.has("a"), "the session");
  const s = await c.tunnel.sessions.get("a")!.open(`127.0.0.1:${peer.port}`);
  const up = patternBytes(3, 8 * MiB);
  await s.write(up);
  s.closeWrite();
  const got: Uint8Array[] = [];
  let n = 0;
  for (let chunk = await s.read(); chunk !== null; chunk = await s.read()) {
    got.push(chunk);
    n += chunk.length;
  }
  const all = new Uint8Array(n);
  got.reduce((at, b) => (all.set(b, at), at + b.length), 0);
  const hex = new TextDecoder().decode(all.subarray(0, 64));
  assertEquals(hex, createHash("sha256").update(up).digest("hex"));
  assertEquals(n, 64 + 8 * MiB);
  assert(
    createHash("sha256").update(all.subarray(64)).digest("hex") ===
      createHash("sha256").update(patternBytes(7, 8 * MiB)).digest("hex"),
    "the download differs",
  );
});
