import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { runTunnelAgent, tunnelUrl } from "../../src/tunnel/mod.ts";
import { waitFor } from "./_pair.ts";
import { localTlsListener } from "./_tls_listener.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A TLS server that completes each websocket handshake, then goes silent:
 * it never reads, writes, answers a close or closes the connection. */
async function hungServer() {
  const dir = await Deno.makeTempDir({ prefix: "weft-tunnel-hung-" });
  const { listener: l, caPem } = await localTlsListener(dir);
  const held: Deno.Conn[] = [];
  const upgraded = { count: 0 };
  const handshake = async (conn: Deno.Conn) => {
    let head = "";
    const buf = new Uint8Array(4096);
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buf);
      if (n === null) return; // the agent's reachability probe
      head += new TextDecoder().decode(buf.subarray(0, n));
    }
    const key = head.match(/sec-websocket-key:\s*(\S+)/i)?.[1] ?? "";
    const digest = await crypto.subtle.digest(
      "SHA-1",
      new TextEncoder().encode(key + GUID),
    );
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    await conn.write(new TextEncoder().encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
        `Connection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    ));
    upgraded.count++;
  };
  const loop = (async () => {
    for await (const conn of l) {
      held.push(conn);
      handshake(conn).catch(() => {});
    }
  })().catch(() => {});
  return {
    url: `https://127.0.0.1:${(l.addr as Deno.NetAddr).port}`,
    caPem,
    upgraded,
    async [Symbol.asyncDispose]() {
      l.close();
      await loop;
      for (const c of held) {
        try {
          c.close();
        } catch {
          // closed by the peer
        }
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("runTunnelAgent: a dead server with a hung close does not block reconnecting", async () => {
  await using srv = await hungServer();
  const ac = new AbortController();
  const states: string[] = [];
  const run = runTunnelAgent({
    servers: [srv.url],
    caPem: srv.caPem,
    token: "t",
    nodeName: "n",
    mode: "agent",
    podCIDRs: [],
    clusterCIDRs: [],
    nodeIPs: [],
    backoffMs: { min: 10, max: 50 },
    session: { keepaliveMs: 10, deadAfterMs: 100 },
    onState: (_s, st, why) => states.push(why ? `${st}: ${why}` : st),
  }, { signal: ac.signal, ready: () => {}, log: () => {} });
  try {
    // Each session dies of silence; its close is never answered, yet the
    // agent dials again, and again.
    await waitFor(() => srv.upgraded.count >= 3, "three sessions");
    const connected = states.filter((s) => s === "connected").length;
    assertEquals(connected >= 2, true, states.join("\n"));
    assertEquals(
      states.some((s) => s.includes("peer sent nothing")),
      true,
      states.join("\n"),
    );
  } finally {
    ac.abort();
    await run;
  }
});

Deno.test("runTunnelAgent: bad options are errors", async () => {
  const base = {
    caPem: "",
    token: "t",
    nodeName: "n",
    mode: "agent" as const,
    podCIDRs: [],
    clusterCIDRs: [],
    nodeIPs: [],
  };
  const ctx = {
    signal: AbortSignal.abort(),
    ready: () => {},
    log: () => {},
  };
  await assertRejects(
    () => runTunnelAgent({ ...base, servers: [] }, ctx),
    TypeError,
    "no server addresses",
  );
  await assertRejects(
    () => runTunnelAgent({ ...base, servers: ["http://x:1"] }, ctx),
    TypeError,
    "want https://",
  );
  await assertRejects(
    () =>
      runTunnelAgent({ ...base, servers: ["x:1"], mode: "all" as "pod" }, ctx),
    TypeError,
    "bad egress selector mode",
  );
});

Deno.test("tunnelUrl: server addresses to the websocket URL", () => {
  assertEquals(
    tunnelUrl("10.0.0.1:6443"),
    "wss://10.0.0.1:6443/v1-weft/connect",
  );
  assertEquals(
    tunnelUrl("https://srv.example:6443/"),
    "wss://srv.example:6443/v1-weft/connect",
  );
  assertEquals(
    tunnelUrl("https://[fd00::1]:6443"),
    "wss://[fd00::1]:6443/v1-weft/connect",
  );
  assertThrows(() => tunnelUrl("ftp://x"), TypeError, "want https://");
});
