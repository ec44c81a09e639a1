// One websocket over a Transport, after its opening handshake: binary
// messages out, messages and the close in, ping answered with pong. The
// tunnel session uses it as its FrameSocket. A message larger than
// `maxMessage` (from its frame header, before its payload is read) or any
// protocol error closes the websocket with the RFC 6455 code (1009, 1002).

import {
  closePayload,
  encodeWsFrame,
  frameInPlace,
  MAX_WS_HEAD,
  OP,
  parseClose,
  WS_CLOSE,
  WsDecoder,
  WsProtocolError,
} from "./ws_frame.ts";
import type { Transport } from "./ws_transport.ts";

export interface WsConnOptions {
  /** "client" masks what it sends and expects unmasked frames. */
  role: "client" | "server";
  maxMessage: number;
  /** How long close() waits for the peer's close frame (default 2 s). */
  closeTimeoutMs?: number;
}

export interface WsClosed {
  code: number;
  reason: string;
  /** True when this side closed first or failed (not the peer). */
  local: boolean;
}

export class WsConn {
  /** Set by the user before start(): each whole data message. */
  onMessage: (data: Uint8Array, binary: boolean) => void = () => {};
  /** Resolves once the websocket is closed, whoever closed it. */
  readonly closed: Promise<WsClosed>;
  /** Resolves once the connection underneath has ended. */
  readonly gone: Promise<void>;
  #gone = Promise.withResolvers<void>();
  #t: Transport;
  #o: WsConnOptions;
  #mask: boolean;
  #sentClose = false;
  #done: WsClosed | null = null;
  #resolve!: (c: WsClosed) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(t: Transport, o: WsConnOptions) {
    this.#t = t;
    this.#o = o;
    this.#mask = o.role === "client";
    this.closed = new Promise((r) => this.#resolve = r);
    this.gone = this.#gone.promise;
  }

  /** Starts reading; call once the handlers are set. */
  start(): void {
    const dec = new WsDecoder({
      maxMessage: this.#o.maxMessage,
      masked: this.#o.role === "server",
      onMessage: (d, b) => this.onMessage(d, b),
      onControl: (op, p) => this.#control(op, p),
    });
    const failed = (e: unknown) => {
      if (!(e instanceof WsProtocolError)) throw e;
      this.#fail(e.code, e.message);
    };
    this.#t.start({
      target: () => this.#done ? null : dec.target(),
      filled: (n) => {
        if (this.#done) return;
        try {
          dec.filled(n);
        } catch (e) {
          failed(e);
        }
      },
      data: (b) => {
        if (this.#done) return;
        try {
          dec.push(b);
        } catch (e) {
          failed(e);
        }
      },
    }, (err) => {
      this.#gone.resolve();
      this.#finish({
        code: WS_CLOSE.abnormal,
        reason: err ? err.message : "connection closed",
        local: false,
      });
    });
  }

  get bufferedAmount(): number {
    return this.#t.buffered;
  }

  /** Resolves once at most `n` bytes wait to be sent. */
  whenBelow(n: number): Promise<void> {
    return this.#t.whenBelow(n);
  }

  /** Free bytes sendReserved() needs in front of a message. */
  readonly headroom = MAX_WS_HEAD;

  /** Sends one binary message (dropped once closing). */
  send(data: Uint8Array): void {
    if (this.#sentClose) return;
    this.#t.write(encodeWsFrame(OP.binary, data, this.#mask));
  }

  /** Sends `buf[headroom..]` as one binary message, framed in place (no
   * copy); `buf` is the websocket's from then on. */
  sendReserved(buf: Uint8Array, sent?: () => void): void {
    if (this.#sentClose) return;
    this.#t.write(
      frameInPlace(OP.binary, buf, this.headroom, this.#mask),
      sent,
    );
  }

  /** Starts the closing handshake; the connection goes when the peer
   * answers, or after the close timeout. */
  close(code: number = WS_CLOSE.normal, reason = ""): void {
    if (this.#done || this.#sentClose) return;
    this.#sendClose(code, reason);
    this.#timer = setTimeout(
      () => this.#finish({ code, reason, local: true }),
      this.#o.closeTimeoutMs ?? 2_000,
    );
  }

  /** Drops the connection now, without a closing handshake. */
  destroy(reason = "dropped"): void {
    this.#finish({ code: WS_CLOSE.abnormal, reason, local: true });
  }

  #sendClose(code: number, reason: string): void {
    this.#sentClose = true;
    this.#t.write(
      encodeWsFrame(OP.close, closePayload(code, reason), this.#mask),
    );
  }

  /** A protocol error: say why, then drop the connection once sent. */
  #fail(code: number, reason: string): void {
    if (!this.#sentClose) this.#sendClose(code, reason);
    this.#finish({ code, reason, local: true }, false);
    this.#flushThenDestroy();
  }

  /** Lets the queued close frame go, then drops the connection (bounded:
   * a peer that does not read does not hold it). */
  #flushThenDestroy(): void {
    const t = this.#t;
    const timer = setTimeout(() => t.destroy(), 1_000);
    t.whenBelow(0).then(() => {
      clearTimeout(timer);
      t.destroy();
    });
  }

  #control(op: number, p: Uint8Array): void {
    if (op === OP.ping) {
      if (!this.#sentClose) {
        this.#t.write(encodeWsFrame(OP.pong, p, this.#mask));
      }
      return;
    }
    if (op !== OP.close) return;
    let c;
    try {
      c = parseClose(p);
    } catch (e) {
      return this.#fail(WS_CLOSE.protocol, (e as Error).message);
    }
    if (!this.#sentClose) {
      const echo = c.code === WS_CLOSE.noStatus ? WS_CLOSE.normal : c.code;
      this.#sendClose(echo, "");
    }
    this.#finish({ ...c, local: false }, false);
    this.#flushThenDestroy();
  }

  #finish(c: WsClosed, destroy = true): void {
    clearTimeout(this.#timer);
    if (destroy) this.#t.destroy();
    if (this.#done) return;
    this.#done = c;
    this.#sentClose = true;
    this.#resolve(c);
  }
}
