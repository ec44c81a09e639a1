// Errors of the tunnel: a broken frame, a stream that failed or was refused.

/** A frame that does not decode: malformed, unknown type or oversized. */
export class FrameError extends Error {
  override name = "FrameError";
}

/** A frame larger than the protocol allows (closes with "message too big"). */
export class FrameTooBig extends FrameError {
  override name = "FrameTooBig";
}

/** A stream failed: refused by the peer's authorizer, dial failure, reset. */
export class StreamError extends Error {
  override name = "StreamError";
}

/** The session is gone (closed locally, by the peer, or the peer is dead). */
export class SessionClosed extends Error {
  override name = "SessionClosed";
}
