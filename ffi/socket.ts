// One libnl socket (struct nl_sock) speaking NETLINK_ROUTE: requests with an
// acknowledgement, dumps, and nonblocking reads for subscriptions.

import { libs } from "./_lib.ts";
import { NetlinkError, nleToErrno } from "./errors.ts";
import { inNetns } from "./netns.ts";
import {
  attrs,
  bytesOf,
  messages,
  type Msg,
  type MsgBuilder,
  NLM_F_ACK,
  NLMSG_DONE,
  NLMSG_ERROR,
  strOf,
} from "./_wire.ts";

/** Turns a negative libnl return into a NetlinkError; passes others through. */
export function unwrap(code: number, op: string): number {
  if (code >= 0) return code;
  const p = libs().nl.nl_geterror(code);
  const detail = p === null
    ? undefined
    : new Deno.UnsafePointerView(p).getCString();
  throw new NetlinkError(nleToErrno(-code), op, { detail });
}

const NLE_AGAIN = 4;
const RECV_BUF = 65536n;
const NLM_F_DUMP_INTR = 0x10;
const DUMP_ATTEMPTS = 5;

const registry = new FinalizationRegistry<Deno.PointerValue>((h) => {
  if (h !== null) libs().nl.nl_socket_free(h);
});

/**
 * The error code when `buf` is exactly one NLMSG_ERROR for `seq` (0 = ack),
 * else null: the common reply to a request, read without allocating.
 */
function ackOf(buf: Uint8Array, seq: number): number | null {
  if (buf.length < 20) return null;
  const len = buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24);
  const type = buf[4] | (buf[5] << 8);
  const mseq = (buf[8] | (buf[9] << 8) | (buf[10] << 16) | (buf[11] << 24)) >>>
    0;
  if (type !== NLMSG_ERROR || len !== buf.length || mseq !== seq) return null;
  return buf[16] | (buf[17] << 8) | (buf[18] << 16) | (buf[19] << 24);
}

const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

/**
 * Asks the kernel for extended acks (a text reason with an error). libnl 3.7
 * has no call for it, so it is set on libnl's socket fd; a kernel without it
 * just answers with plain errors.
 */
function enableExtAck(h: NonNullable<Deno.PointerValue>): void {
  const { nl, c } = libs();
  const fd = nl.nl_socket_get_fd(h);
  if (fd >= 0) {
    c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, new Int32Array([1]), 4);
  }
}

/** The kernel's reason text from an NLMSG_ERROR at the start of `buf`, if any. */
export function extAckMessage(buf: Uint8Array): string | undefined {
  const flags = buf[6] | (buf[7] << 8);
  if (!(flags & NLM_F_ACK_TLVS) || buf.length < 36) return undefined;
  const len = buf[0] | (buf[1] << 8) | (buf[2] << 16) | (buf[3] << 24);
  const origLen = buf[20] | (buf[21] << 8) | (buf[22] << 16) | (buf[23] << 24);
  // error code (4) + the request: its header only when the kernel capped it
  const capped = flags & 0x100; // NLM_F_CAPPED
  const start = 16 + 4 + ((capped ? 16 : origLen) + 3 & ~3);
  const view = new DataView(
    buf.buffer,
    buf.byteOffset,
    Math.min(len, buf.length),
  );
  const msg = attrs(view, start).get(NLMSGERR_ATTR_MSG);
  return msg ? strOf(msg) : undefined;
}

export interface SocketOptions {
  netns?: string;
  /** Netlink protocol; NETLINK_ROUTE (0) when absent. */
  protocol?: number;
  groups?: number[];
  nonblocking?: boolean;
  rcvbuf?: number;
}

export class NlSocket implements Disposable {
  #handle: Deno.PointerValue;
  #seq = Math.floor(Math.random() * 0x7fffffff);
  #nla = new Uint8Array(12);
  #bufp = new BigUint64Array(1);
  #bufpBytes = new Uint8Array(this.#bufp.buffer);
  #scratch = new Uint8Array(Number(RECV_BUF));

  private constructor(handle: Deno.PointerValue) {
    this.#handle = handle;
    registry.register(this, handle, this);
  }

  /** Opens and connects a netlink socket (NETLINK_ROUTE unless `protocol`), bound to `netns` when given. */
  static open(opts: SocketOptions = {}): NlSocket {
    const nl = libs().nl;
    const h = nl.nl_socket_alloc();
    if (h === null) throw new NetlinkError(12, "netlink socket alloc");
    try {
      // One recvmsg per datagram into a buffer larger than any the kernel
      // sends (it caps dump datagrams at 32 KiB), instead of peeking first.
      nl.nl_socket_disable_msg_peek(h);
      unwrap(
        nl.nl_socket_set_msg_buf_size(h, RECV_BUF),
        "netlink set msg buf size",
      );
      inNetns(
        opts.netns,
        () =>
          unwrap(
            nl.nl_connect(h, opts.protocol ?? 0),
            `netlink connect${opts.netns ? ` in ${opts.netns}` : ""}`,
          ),
      );
      enableExtAck(h);
      if (opts.rcvbuf) {
        unwrap(
          nl.nl_socket_set_buffer_size(h, opts.rcvbuf, 0),
          "netlink set buffer size",
        );
      }
      for (const g of opts.groups ?? []) {
        unwrap(nl.nl_socket_add_membership(h, g), `netlink join group ${g}`);
      }
      if (opts.nonblocking) {
        unwrap(nl.nl_socket_set_nonblocking(h), "netlink set nonblocking");
      }
    } catch (e) {
      nl.nl_socket_free(h);
      throw e;
    }
    return new NlSocket(h);
  }

  get closed(): boolean {
    return this.#handle === null;
  }

  /** The socket's file descriptor (to wait on it with poll(2)). */
  get fd(): number {
    const fd = libs().nl.nl_socket_get_fd(this.#h("netlink fd"));
    if (fd < 0) throw new NetlinkError(9, "netlink fd (not connected)");
    return fd;
  }

  #h(op: string): NonNullable<Deno.PointerValue> {
    if (this.#handle === null) {
      throw new NetlinkError(9, `${op} (netlink socket closed)`);
    }
    return this.#handle;
  }

  /**
   * One datagram, or null when a nonblocking socket has nothing queued. The
   * bytes live in a buffer reused by the next recv(): copy what you keep.
   */
  recv(op: string): Uint8Array | null {
    const { nl, c } = libs();
    this.#bufp[0] = 0n;
    const code = nl.nl_recv(this.#h(op), this.#nla, this.#bufpBytes, null);
    if (code === -NLE_AGAIN) return null; // nonblocking and nothing queued
    const n = unwrap(code, op);
    const p = Deno.UnsafePointer.create(this.#bufp[0]);
    if (p === null) return null;
    if (n > this.#scratch.length) this.#scratch = new Uint8Array(n);
    const out = this.#scratch.subarray(0, n);
    Deno.UnsafePointerView.copyInto(p, out);
    c.free(p);
    return n === 0 ? null : out;
  }

  #send(b: MsgBuilder, op: string): number {
    const seq = this.#seq = (this.#seq + 1) >>> 0;
    const msg = b.finish(seq);
    const code = libs().nl.nl_sendto(this.#h(op), msg, BigInt(msg.byteLength));
    if (code < 0) unwrap(code, op);
    return seq;
  }

  #collect(seq: number, op: string): Msg[] {
    const out: Msg[] = [];
    for (;;) {
      const buf = this.recv(op);
      if (buf === null) continue;
      const ack = ackOf(buf, seq);
      if (ack === 0) return out;
      if (ack !== null) {
        throw new NetlinkError(-ack, op, { detail: extAckMessage(buf) });
      }
      for (const m of messages(buf)) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR || m.type === NLMSG_DONE) {
          const err = m.data.byteLength >= 4 ? m.data.getInt32(0, true) : 0;
          if (err < 0) throw new NetlinkError(-err, op);
          return out;
        }
        const copy = bytesOf(m.data).slice();
        out.push({ ...m, data: new DataView(copy.buffer) });
      }
    }
  }

  /** Sends a request with NLM_F_ACK; returns the replies before the ack. */
  request(b: MsgBuilder, op: string): Msg[] {
    return this.#collect(this.#send(b.addFlags(NLM_F_ACK), op), op);
  }

  /**
   * Sends a dump request (its flags include NLM_F_DUMP); returns every part.
   * A dump the kernel marks inconsistent (the table changed while it was
   * being read) is read again.
   */
  dump(b: MsgBuilder, op: string): Msg[] {
    for (let attempt = 0; attempt < DUMP_ATTEMPTS; attempt++) {
      const msgs = this.#collect(this.#send(b, op), op);
      if (!msgs.some((m) => m.flags & NLM_F_DUMP_INTR)) return msgs;
    }
    throw new NetlinkError(4, op, {
      detail: `the table kept changing during ${DUMP_ATTEMPTS} dumps`,
    });
  }

  close(): void {
    if (this.#handle === null) return;
    registry.unregister(this);
    libs().nl.nl_socket_free(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
