// Binds a session to a WebSocket: messages in, close events, binary mode.

import { Session, type SessionOptions } from "./session.ts";

/** A session over an open WebSocket. */
export function sessionOn(ws: WebSocket, opts: SessionOptions): Session {
  ws.binaryType = "arraybuffer";
  const s = new Session(ws, opts);
  ws.addEventListener("message", (e) => s.receive(e.data));
  ws.addEventListener("close", (e) => {
    s.socketClosed(
      `websocket closed (${e.code}${e.reason ? ` ${e.reason}` : ""})`,
    );
  });
  ws.addEventListener("error", (e) => {
    s.socketClosed(
      `websocket error: ${(e as ErrorEvent).message ?? "unknown"}`,
    );
    try {
      ws.close();
    } catch {
      // already closed
    }
  });
  return s;
}
