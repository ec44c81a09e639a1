// Binds a session to a websocket: messages in, the close out and in.

import { countedSocket, countReceived, trackSession } from "./metrics.ts";
import { Session, type SessionOptions } from "./session.ts";
import type { WsConn } from "./ws_conn.ts";

/** A session over an open (not yet started) websocket; starts it. */
export function sessionOn(ws: WsConn, opts: SessionOptions): Session {
  const s = new Session(countedSocket(ws, opts.role), opts);
  trackSession(s);
  ws.onMessage = (data, binary) => {
    if (binary) countReceived(opts.role, data);
    s.receive(binary ? data : "text");
  };
  ws.closed.then((c) => {
    s.socketClosed(
      `websocket closed (${c.code}${c.reason ? ` ${c.reason}` : ""})`,
    );
  });
  ws.start();
  return s;
}
