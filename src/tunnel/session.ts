// One tunnel session: the frames of one websocket, demultiplexed into
// streams. The server opens streams; the agent accepts them through its
// `accept` function (authorizer + local dial) or refuses one with an error
// frame, and the session stays up. Both sides send a ping every keepalive
// interval and close the session when the peer has sent nothing for
// `deadAfterMs`; both send their open stream ids every `syncMs` and close
// streams the peer no longer lists. A malformed or oversized frame, or a text
// message, closes the session (never the process).

import { closeQuietly } from "../util/close.ts";
import { decodeFrame, encodeFrame, type Frame } from "./frame.ts";
import {
  FrameError,
  FrameTooBig,
  SessionClosed,
  StreamError,
} from "./errors.ts";
import { TunnelStream } from "./stream.ts";
import { setImmediate } from "node:timers";
import { received, Slab, SLAB_ROOM } from "./slab.ts";

/** The part of a WebSocket the session uses. */
export interface FrameSocket {
  /** Bytes the socket needs free in front of each message it sends. */
  readonly headroom: number;
  /** Sends `buf` minus its first `headroom` bytes as one binary message
   * (the socket may write into those bytes and into the message); `sent`
   * is called once the bytes have left (never if they do not). */
  sendReserved(buf: Uint8Array, sent?: () => void): void;
  close(code?: number, reason?: string): void;
  readonly bufferedAmount: number;
  /** Resolves once at most `n` bytes wait to be sent. */
  whenBelow(n: number): Promise<void>;
}

export interface SessionOptions {
  role: "server" | "agent";
  /** Agent side: authorizes and dials "host:port"; throws to refuse. */
  accept?: (target: string) => Promise<Deno.Conn>;
  log?: (msg: string) => void;
  /** Default 5 s. */
  keepaliveMs?: number;
  /** Default 15 s: three keepalives missed. Well within the 60 s bound, so
   * that after a network outage a fresh session replaces the stalled one
   * instead of waiting out TCP's retransmission backoff. */
  deadAfterMs?: number;
  /** Default 60 s. */
  syncMs?: number;
  /** Server side: how long open() waits for the agent (default 30 s). */
  openTimeoutMs?: number;
}

// Close codes of the session's own reasons: 4000 + the matching RFC 6455
// code (the websocket layer itself uses the RFC codes, e.g. 1009 for a
// message over its limit).
export const CLOSE_DEAD = 4001;
export const CLOSE_PROTOCOL = 4002;
export const CLOSE_UNSUPPORTED = 4003;
export const CLOSE_TOO_BIG = 4009;

/** Send-buffer high-water mark of the websocket. */
export const SOCKET_HIGH = 4 * 1024 * 1024;

export class Session {
  readonly role: "server" | "agent";
  /** Resolves with the reason once the session has closed. */
  readonly done: Promise<string>;
  #socket: FrameSocket;
  #opts: SessionOptions;
  #streams = new Map<number, TunnelStream>();
  #pending = new Map<number, PromiseWithResolvers<TunnelStream>>();
  #nextId = 1;
  #closed: string | null = null;
  #resolveDone!: (reason: string) => void;
  #lastRecv = Date.now();
  #timers: ReturnType<typeof setInterval>[] = [];

  constructor(socket: FrameSocket, opts: SessionOptions) {
    this.#socket = socket;
    this.#opts = opts;
    this.role = opts.role;
    this.done = new Promise((r) => this.#resolveDone = r);
    const keepalive = opts.keepaliveMs ?? 5_000;
    const dead = opts.deadAfterMs ?? 15_000;
    this.#timers.push(setInterval(() => {
      if (Date.now() - this.#lastRecv > dead) {
        this.close(`peer sent nothing for ${dead} ms`, CLOSE_DEAD);
      } else this.#send({ type: "ping" });
    }, keepalive));
    this.#timers.push(setInterval(() => {
      this.#send({ type: "sync", ids: [...this.#streams.keys()] });
    }, opts.syncMs ?? 60_000));
  }

  get closed(): boolean {
    return this.#closed !== null;
  }

  /** The close reason, or null while open. */
  get closeReason(): string | null {
    return this.#closed;
  }

  /** Open streams by id. */
  get streams(): ReadonlyMap<number, TunnelStream> {
    return this.#streams;
  }

  /** Received bytes held unread across all streams. */
  bufferedBytes(): number {
    let n = 0;
    for (const s of this.#streams.values()) n += s.buffered;
    return n;
  }

  /** Server side: asks the agent to dial "host:port". */
  open(target: string): Promise<TunnelStream> {
    if (this.#closed) {
      return Promise.reject(new SessionClosed(this.#closed));
    }
    if (this.role !== "server") {
      return Promise.reject(new TypeError("only the server opens streams"));
    }
    if (target.length > 1000) {
      return Promise.reject(new TypeError(`target of ${target.length} chars`));
    }
    const id = this.#allocId();
    const p = Promise.withResolvers<TunnelStream>();
    this.#pending.set(id, p);
    this.#send({ type: "connect", id, target: `tcp/${target}` });
    const ms = this.#opts.openTimeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      if (this.#pending.get(id) !== p) return;
      this.#pending.delete(id);
      const why = `no answer from the agent within ${ms} ms`;
      this.#send({ type: "error", id, message: why });
      p.reject(new StreamError(`open ${target}: ${why}`));
    }, ms);
    return p.promise.finally(() => clearTimeout(timer));
  }

  /** Feeds one websocket message. */
  receive(msg: ArrayBuffer | Uint8Array | string | Blob): void {
    if (this.#closed) return;
    this.#lastRecv = Date.now();
    if (typeof msg === "string" || msg instanceof Blob) {
      this.close("peer sent a non-binary message", CLOSE_UNSUPPORTED);
      return;
    }
    let f: Frame;
    try {
      f = decodeFrame(msg instanceof Uint8Array ? msg : new Uint8Array(msg));
    } catch (e) {
      const big = e instanceof FrameTooBig;
      this.close(
        `bad frame: ${(e as Error).message}`,
        big ? CLOSE_TOO_BIG : CLOSE_PROTOCOL,
      );
      if (!(e instanceof FrameError)) throw e;
      return;
    }
    this.#dispatch(f);
  }

  /** The websocket closed (or failed). */
  socketClosed(reason: string): void {
    this.#shutdown(reason);
  }

  /** Closes the session and the websocket; every stream fails. */
  close(reason: string, code = 1000): void {
    if (this.#closed) return;
    this.#shutdown(reason);
    try {
      this.#socket.close(code, reason.slice(0, 120));
    } catch {
      // the socket is already closing
    }
  }

  /** Resolves once the websocket's send buffer is below its high mark. */
  drain(): Promise<void> {
    if (this.#closed || this.#socket.bufferedAmount <= SOCKET_HIGH) {
      return Promise.resolve();
    }
    return Promise.race([
      this.#socket.whenBelow(SOCKET_HIGH),
      this.done.then(() => {}),
    ]);
  }

  #shutdown(reason: string): void {
    if (this.#closed) return;
    this.#closed = reason;
    for (const t of this.#timers) clearInterval(t);
    const err = new StreamError(`session closed: ${reason}`);
    for (const s of [...this.#streams.values()]) s.fail(err);
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#resolveDone(reason);
  }

  #allocId(): number {
    do {
      this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    } while (
      this.#streams.has(this.#nextId) || this.#pending.has(this.#nextId)
    );
    return this.#nextId;
  }

  #send(f: Frame): void {
    if (this.#closed) return;
    try {
      const buf = encodeFrame(f, this.#socket.headroom);
      if (f.type === "data" && f.release) {
        // Built around the caller's bytes, or a copy of them.
        if (buf.buffer === f.data.buffer) {
          return this.#socket.sendReserved(buf, f.release);
        }
        f.release();
      }
      this.#socket.sendReserved(buf);
    } catch (e) {
      this.#shutdown(`send failed: ${(e as Error).message}`);
    }
  }

  #link = {
    send: (f: Frame) => this.#send(f),
    drain: () => this.drain(),
    forget: (id: number) => this.#streams.delete(id),
  };

  #dispatch(f: Frame): void {
    if (f.type === "ping") return;
    if (f.type === "sync") return this.#sync(f.ids);
    if (f.type === "connect") return this.#onConnect(f.id, f.target);
    const pending = this.#pending.get(f.id);
    if (pending && f.type === "error") {
      this.#pending.delete(f.id);
      pending.reject(new StreamError(f.message));
      return;
    }
    const s = this.#streams.get(f.id);
    if (!s) {
      if (f.type === "data") {
        this.#send({
          type: "error",
          id: f.id,
          message: "connection not found",
        });
      }
      return;
    }
    switch (f.type) {
      case "data":
        return s.push(f.data);
      case "close":
        return s.eof();
      case "error":
        return s.fail(new StreamError(f.message));
      case "pause":
        return s.setPaused(true);
      case "resume":
        return s.setPaused(false);
    }
  }

  #sync(ids: number[]): void {
    const listed = new Set(ids);
    const settled = Date.now() - (this.#opts.syncMs ?? 60_000);
    for (const s of [...this.#streams.values()]) {
      if (!listed.has(s.id) && s.createdAt <= settled) {
        s.fail(new StreamError("closed: the peer no longer lists the stream"));
      }
    }
  }

  #onConnect(id: number, target: string): void {
    if (this.role === "server") {
      const p = this.#pending.get(id);
      if (!p || target !== "") {
        this.#send({
          type: "error",
          id,
          message: "streams are opened by the server",
        });
        return;
      }
      this.#pending.delete(id);
      const s = new TunnelStream(this.#link, id, "");
      this.#streams.set(id, s);
      p.resolve(s);
      return;
    }
    if (this.#streams.has(id)) {
      this.#send({ type: "error", id, message: `stream ${id} already open` });
      return;
    }
    const refuse = (message: string) =>
      this.#send({ type: "error", id, message });
    if (!target.startsWith("tcp/")) {
      return refuse(`unsupported network in ${JSON.stringify(target)}`);
    }
    const addr = target.slice(4);
    const s = new TunnelStream(this.#link, id, addr);
    this.#streams.set(id, s);
    const accept = this.#opts.accept;
    if (!accept) return s.reset("this side accepts no streams");
    // A synchronous throw from accept (a bad target) is a refusal too.
    Promise.resolve().then(() => accept(addr)).then((conn) => {
      if (s.failed || this.#closed) {
        conn.close();
        return;
      }
      this.#send({ type: "connect", id, target: "" });
      pipeStream(s, conn);
    }, (e) => {
      this.#opts.log?.(`tunnel: refused ${addr}: ${(e as Error).message}`);
      s.reset((e as Error).message);
    });
  }
}

async function writeAll(conn: Deno.Conn, b: Uint8Array): Promise<void> {
  for (let off = 0; off < b.length;) off += await conn.write(b.subarray(off));
}

const TURN = Symbol("turn");
const nextTurn = () =>
  new Promise<typeof TURN>((r) => setImmediate(() => r(TURN)));

/** Copies `conn` into `s` until EOF. Reads that complete within one event
 * loop turn of the first unsent one go out as one data frame (a TLS
 * connection yields one 16 KiB record per read, and reads of records
 * already received complete without a turn: a frame each would multiply
 * the per-message cost of every hop behind). Once that turn has passed,
 * what has arrived is sent, so a lone small write waits one turn at most;
 * one timer serves the whole batch, not one per read. The bytes are read
 * into a slab with room for the headers in front, and sent without a copy
 * (a frame that starts right behind one sent while its read was pending
 * has no room: its bytes are copied). */
async function copyToStream(conn: Deno.Conn, s: TunnelStream): Promise<void> {
  // A frame sent with room holds its slab until sent: a fresh slab follows.
  // An outstanding read fills only [end, length).
  let slab = new Slab();
  let buf = slab.buf;
  let start = SLAB_ROOM;
  let end = SLAB_ROOM;
  let room = SLAB_ROOM;
  let lent = false;
  let pending: Promise<number | null> | null = null;
  let turn: Promise<typeof TURN> | null = null;
  const flush = async () => {
    turn = null;
    if (end === start) return;
    const b = buf.subarray(start, end);
    const r = room;
    lent ||= r > 0;
    start = end;
    room = 0;
    await s.write(b, r, r > 0 ? slab.hold() : undefined);
  };
  try {
    for (;;) {
      if (!pending) {
        if (end === buf.length) await flush();
        if (start === end) {
          if (lent) {
            slab.drop();
            slab = new Slab();
            buf = slab.buf;
          }
          lent = false;
          start = end = room = SLAB_ROOM;
        }
        pending = conn.read(buf.subarray(end));
        // Awaited below; a failure while a flush is waiting is not unhandled.
        pending.catch(() => {});
      }
      let r;
      if (start === end) r = await pending;
      else {
        turn ??= nextTurn();
        r = await Promise.race([pending, turn]);
      }
      if (r === TURN) {
        await flush();
        continue;
      }
      pending = null;
      if (r === null) break;
      end += r;
    }
    await flush();
  } finally {
    // Not while a read may still fill it.
    if (!pending) slab.drop();
  }
}

/** Copies a stream and a TCP connection into each other until both end;
 * closes the connection. A failure on either side resets the stream. */
export async function pipeStream(
  s: TunnelStream,
  conn: Deno.Conn,
): Promise<void> {
  const up = (async () => {
    try {
      await copyToStream(conn, s);
      s.closeWrite();
    } catch (e) {
      s.reset(`local connection: ${(e as Error).message}`);
      closeQuietly(conn);
    }
  })();
  const down = (async () => {
    try {
      for (;;) {
        const c = await s.read();
        if (c === null) break;
        await writeAll(conn, c);
        received(c);
      }
      await conn.closeWrite().catch(() => {});
    } catch (e) {
      s.reset(`local connection: ${(e as Error).message}`);
      closeQuietly(conn);
    }
  })();
  await Promise.all([up, down]);
  closeQuietly(conn);
}
