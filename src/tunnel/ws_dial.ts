// The agent's websocket to its server: TCP with TCP_NODELAY (the tunnel's
// small frames must not wait for a delayed ACK), TLS in which the cluster
// CA is the only trust anchor (node:tls's `ca` replaces the default roots
// and DENO_CERT; Deno.startTls and createHttpClient only add to them), and
// the upgrade request written only once the server has been verified.

import tls from "node:tls";
import { WsConn } from "./ws_conn.ts";
import {
  checkUpgradeResponse,
  HandshakeError,
  headEnd,
  MAX_HEAD,
  parseHead,
  upgradeRequest,
} from "./ws_handshake.ts";
import { type Reader, TlsSocketTransport } from "./ws_transport.ts";

export interface DialOptions {
  /** PEM: the only CA the server's certificate may chain to. */
  caPem: string;
  headers: Record<string, string>;
  maxMessage: number;
  timeoutMs: number;
  signal: AbortSignal;
}

/** Connects to `wss://host:port/path`; resolves with the open websocket
 * (not started), rejects on any failure, the timeout or the signal. */
export function dialWebSocket(url: string, o: DialOptions): Promise<WsConn> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(u.port || 443);
  // Reads land in the reader's target (the rest of a large message) or in
  // one reused buffer; `reader` takes each (copying what it keeps): the
  // answer's head first, then the websocket.
  const readBuf = new Uint8Array(64 * 1024);
  const bytes = (data: (b: Uint8Array) => void): Reader => ({
    target: () => null,
    filled: () => {},
    data,
  });
  let reader = bytes(() => {});
  let into: Uint8Array | null = null;
  const sock = tls.connect({
    host,
    port,
    ca: o.caPem,
    noDelay: true,
    ALPNProtocols: ["http/1.1"],
    onread: {
      // Called before each read; the callback reports that read.
      buffer: () => (into = reader.target()) ?? readBuf,
      callback: (n: number) => {
        if (into) reader.filled(n);
        else reader.data(readBuf.subarray(0, n));
        return true;
      },
    },
  } as tls.ConnectionOptions);
  // Failures are seen through the handlers below, then the transport's; a
  // socket error with no listener at all would end the process.
  sock.on("error", () => {});
  return new Promise<WsConn>((resolve, reject) => {
    let head = new Uint8Array(0);
    let key = "";
    const fail = (e: Error) => {
      cleanup();
      sock.destroy();
      reject(e);
    };
    const onAbort = () => fail(new Error("stopping"));
    const onError = (e: Error) => fail(e);
    const onClose = () =>
      fail(new Error("connection closed during the handshake"));
    const timer = setTimeout(
      () => fail(new Error(`handshake timed out after ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
    const cleanup = () => {
      clearTimeout(timer);
      o.signal.removeEventListener("abort", onAbort);
      sock.off("error", onError);
      sock.off("close", onClose);
    };
    const onData = (b: Uint8Array) => {
      const all = new Uint8Array(head.length + b.length);
      all.set(head);
      all.set(b, head.length);
      head = all;
      const end = headEnd(head);
      if (end < 0) {
        if (head.length > MAX_HEAD) {
          fail(new HandshakeError("answer head too long"));
        }
        return;
      }
      cleanup();
      // What follows the head is held until the websocket reads.
      const early = [head.slice(end)];
      reader = bytes((b) => early.push(b.slice()));
      const text = new TextDecoder().decode(head.subarray(0, end - 4));
      (async () => {
        await checkUpgradeResponse(parseHead(text), key);
        const initial = new Uint8Array(early.reduce((n, b) => n + b.length, 0));
        early.reduce((at, b) => (initial.set(b, at), at + b.length), 0);
        const ws = new WsConn(
          new TlsSocketTransport(sock, (r) => reader = r, initial),
          { role: "client", maxMessage: o.maxMessage },
        );
        resolve(ws);
      })().catch((e) => {
        sock.destroy();
        reject(e);
      });
    };
    if (o.signal.aborted) return onAbort();
    o.signal.addEventListener("abort", onAbort);
    sock.on("error", onError);
    sock.on("close", onClose);
    // Only a server verified against the CA hears the credentials.
    sock.once("secureConnect", () => {
      const req = upgradeRequest(u.pathname, u.host, o.headers);
      key = req.key;
      reader = bytes(onData);
      sock.write(req.text);
    });
  });
}
