// Binds a session to a WebSocket: messages in, close events, binary mode.

import { countedSocket, countReceived, trackSession } from "./metrics.ts";
import { Session, type SessionOptions } from "./session.ts";

/** A session over an open WebSocket. */
export function sessionOn(ws: WebSocket, opts: SessionOptions): Session {
  ws.binaryType = "arraybuffer";
  const s = new Session(countedSocket(ws, opts.role), opts);
  trackSession(s);
  ws.addEventListener("message", (e) => {
    countReceived(opts.role, e.data);
    s.receive(e.data);
  });
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
