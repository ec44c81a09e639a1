// The far end of the demo's TCP checks: one listener per pod and per node,
// all held by the demo process. Each listener is created inside its network
// namespace (setns around the synchronous Deno.listen, through ffi/); the
// socket stays there. A connection gets one line back: the responder's name
// and the source address it saw, so a check can tell the right pod
// answered and whether the traffic was NATed on the way.

import { withNetns } from "../../../ffi/mod.ts";
import { listenTcpOn, unmapV4 } from "../../net/mod.ts";

export const RESPONDER_PORT = 8081;

export class Responders {
  readonly #listeners: Deno.Listener[] = [];
  readonly #loops: Promise<void>[] = [];

  /** Listens on every address of both families, port `port`, inside the
   * namespace at `netnsPath`. */
  serve(netnsPath: string, name: string, port = RESPONDER_PORT): void {
    const listener = withNetns(netnsPath, () => listenTcpOn(undefined, port));
    this.#listeners.push(listener);
    this.#loops.push(this.#accept(listener, name));
  }

  async #accept(listener: Deno.Listener, name: string): Promise<void> {
    try {
      for await (const conn of listener) {
        this.#answer(conn, name).catch(() => {});
      }
    } catch {
      // listener closed
    }
  }

  async #answer(conn: Deno.Conn, name: string): Promise<void> {
    try {
      const buf = new Uint8Array(4096);
      await conn.read(buf);
      const from = unmapV4((conn.remoteAddr as Deno.NetAddr).hostname);
      const body = `${name} ${from}\n`;
      const res =
        `HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
      const bytes = new TextEncoder().encode(res);
      let off = 0;
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    } finally {
      try {
        conn.close();
      } catch {
        // closed by the peer
      }
    }
  }

  async close(): Promise<void> {
    for (const l of this.#listeners) {
      try {
        l.close();
      } catch {
        // already closed
      }
    }
    await Promise.all(this.#loops);
    this.#listeners.length = 0;
    this.#loops.length = 0;
  }
}
