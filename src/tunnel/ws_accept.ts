// The server's half of the websocket handshake, on the raw connection the
// API's front listener hands over (no second HTTP server, no extra hop):
// parse the request head, authorize it, answer 101 or a Kubernetes Status
// with Connection: close.

import { WsConn } from "./ws_conn.ts";
import {
  checkUpgradeRequest,
  HandshakeError,
  parseHead,
  upgradeResponse,
} from "./ws_handshake.ts";
import { ConnTransport } from "./ws_transport.ts";

export type Authorization =
  /** `revoked` aborts when the credential that opened it is revoked. */
  | { node: string; revoked?: AbortSignal }
  | { status: number; reason: string; message: string };

export interface AcceptOptions {
  /** Decides from the request (headers only) who opens the session. */
  authorize: (req: Request) => Promise<Authorization>;
  maxMessage: number;
  log: (msg: string) => void;
}

export function statusBody(code: number, reason: string, message: string) {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  };
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  426: "Upgrade Required",
};

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const b = new TextEncoder().encode(text);
  for (let off = 0; off < b.length;) off += await conn.write(b.subarray(off));
}

async function refuse(
  conn: Deno.Conn,
  code: number,
  reason: string,
  message: string,
): Promise<void> {
  const body = JSON.stringify(statusBody(code, reason, message));
  const extra = code === 426 ? "Sec-WebSocket-Version: 13\r\n" : "";
  await writeAll(
    conn,
    `HTTP/1.1 ${code} ${REASONS[code] ?? "Error"}\r\n` +
      `Content-Type: application/json\r\n${extra}` +
      `Content-Length: ${new TextEncoder().encode(body).length}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}

/** Answers an upgrade request on `conn`; the open websocket (not started)
 * and its node, or null once refused (the caller closes `conn`). */
export async function serveUpgrade(
  conn: Deno.Conn,
  headText: string,
  rest: Uint8Array,
  o: AcceptOptions,
): Promise<{ node: string; revoked?: AbortSignal; ws: WsConn } | null> {
  try {
    const head = parseHead(headText);
    // The authenticator reads only the headers.
    const req = new Request("https://tunnel.weft.invalid/", {
      headers: head.headers,
    });
    const who = await o.authorize(req);
    if (!("node" in who)) {
      await refuse(conn, who.status, who.reason, who.message);
      return null;
    }
    const key = checkUpgradeRequest(head);
    await writeAll(conn, await upgradeResponse(key));
    const ws = new WsConn(new ConnTransport(conn, rest), {
      role: "server",
      maxMessage: o.maxMessage,
    });
    return { node: who.node, revoked: who.revoked, ws };
  } catch (e) {
    if (!(e instanceof HandshakeError) || e.status === 0) throw e;
    o.log(`tunnel: upgrade refused: ${e.message}`);
    await refuse(conn, e.status, "BadRequest", e.message).catch(() => {});
    return null;
  }
}
