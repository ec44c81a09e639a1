// The tunnel's metrics, kept out of the data path's files: sessions and
// their open streams are read at scrape time; frame bytes are counted where
// the websocket sends and delivers them.

import {
  tunnelBytes,
  tunnelSessions,
  tunnelSessionsOpened,
  tunnelStreams,
} from "../metrics/mod.ts";
import type { FrameSocket, Session } from "./session.ts";

/** The socket with its sent bytes counted. */
export function countedSocket(
  ws: FrameSocket,
  side: "server" | "agent",
): FrameSocket {
  const sent = { side, direction: "sent" };
  return {
    headroom: ws.headroom,
    sendReserved: (buf, done) => {
      const n = buf.byteLength - ws.headroom;
      ws.sendReserved(buf, done);
      tunnelBytes.inc(sent, n);
    },
    close: (code, reason) => ws.close(code, reason),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    whenBelow: (n) => ws.whenBelow(n),
  };
}

/** Counts a received message's bytes. */
export function countReceived(side: "server" | "agent", data: unknown): void {
  const n = data instanceof ArrayBuffer || ArrayBuffer.isView(data)
    ? data.byteLength
    : 0;
  if (n) tunnelBytes.inc({ side, direction: "received" }, n);
}

/** Counts the session (and its streams) until it closes. */
export function trackSession(s: Session): void {
  const side = { side: s.role };
  tunnelSessions.inc(side);
  tunnelSessionsOpened.inc(side);
  const off = tunnelStreams.source(() => [[side, s.streams.size]]);
  s.done.then(() => {
    tunnelSessions.dec(side);
    off();
  });
}
