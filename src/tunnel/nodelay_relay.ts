// A local relay that gives the agent's websocket TCP_NODELAY. Deno's
// WebSocket client leaves Nagle's algorithm on for its socket, and Deno
// exposes no way to change that; the tunnel's small frames (a stream's
// close, then the next stream's connect answer) then wait for the server's
// delayed ACK, ~40 ms per stream open. So the agent's websocket speaks
// plain HTTP to a unix socket (no Nagle) in a private directory (mode
// 0700), and the relay carries each connection to the server over TLS on a
// TCP connection with TCP_NODELAY (set before the handshake; the TLS
// connection keeps the socket). The relay verifies the server against the
// cluster CA, as the websocket client would. (Deno's WebSocket through a
// proxy transport insists on HTTP/2 for wss, which the API does not offer.)

export interface NoDelayRelay {
  /** The unix socket the HTTP client's proxy option points at. */
  path: string;
  /** Closes the connections relayed so far (a session that ended). */
  dropConnections(): void;
  /** Stops the relay, closes every connection, removes the socket. */
  close(): Promise<void>;
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}

/** Copies `from` into `to` until EOF, then half-closes `to`. */
async function copy(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(256 * 1024);
  for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
    for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
  }
  await to.closeWrite();
}

/** Starts a relay from a fresh unix socket to TLS on `host:port`. */
export async function startNoDelayRelay(
  host: string,
  port: number,
  caPem: string,
  log: (msg: string) => void,
): Promise<NoDelayRelay> {
  const dir = await Deno.makeTempDir({ prefix: "weft-tunnel-relay-" });
  const path = `${dir}/relay.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const conns = new Set<Deno.Conn>();

  const relay = async (local: Deno.Conn) => {
    conns.add(local);
    let remote: Deno.Conn | null = null;
    try {
      const tcp = await Deno.connect({ hostname: host, port });
      tcp.setNoDelay(true);
      remote = tcp;
      conns.add(tcp);
      const tls = await Deno.startTls(tcp, {
        hostname: host,
        caCerts: [caPem],
      });
      conns.delete(tcp);
      conns.add(tls);
      remote = tls;
      // Handshake now, so that a server outside the CA is logged here.
      await tls.handshake();
      const r = remote;
      const one = (a: Deno.Conn, b: Deno.Conn) =>
        copy(a, b).catch(() => {
          closeQuietly(local);
          closeQuietly(r);
        });
      await Promise.all([one(local, remote), one(remote, local)]);
    } catch (e) {
      log(`tunnel: relay to ${host}:${port}: ${(e as Error).message}`);
    } finally {
      conns.delete(local);
      closeQuietly(local);
      if (remote) {
        conns.delete(remote);
        closeQuietly(remote);
      }
    }
  };

  const accepting = (async () => {
    for await (const c of listener) relay(c);
  })().catch(() => {});

  const dropConnections = () => {
    for (const c of conns) closeQuietly(c);
    conns.clear();
  };
  return {
    path,
    dropConnections,
    close: async () => {
      closeQuietly(listener);
      await accepting;
      dropConnections();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
