// Netlink notifications as async iterators: link changes (linkEvents), link,
// neighbour, FDB and route changes (netEvents), and nf_tables rule-set
// changes (nftEvents). The sockets are nonblocking; while one has nothing to
// read, a poll(2) on a worker thread waits for it (or for close()), so an
// idle subscription costs no wake-ups and an event is read as it arrives.

import { decodeLink, RTM_DELLINK, RTM_NEWLINK } from "./link.ts";
import {
  AF_BRIDGE,
  decodeFdb,
  decodeNeigh,
  RTM_DELNEIGH,
  RTM_NEWNEIGH,
} from "./neigh.ts";
import {
  decodeRoute,
  RTM_DELROUTE,
  RTM_F_CLONED,
  RTM_NEWROUTE,
} from "./route.ts";
import { NetlinkError } from "./errors.ts";
import { NlSocket } from "./socket.ts";
import { errno, libs } from "./_lib.ts";
import { messages, type Msg } from "./_wire.ts";
import type { Fdb, Link, Neigh, Route } from "./types.ts";

const RTNLGRP_LINK = 1;
const RTNLGRP_NEIGH = 3;
const RTNLGRP_IPV4_ROUTE = 7;
const RTNLGRP_IPV6_ROUTE = 11;
const NETLINK_NETFILTER = 12;
const NFNLGRP_NFTABLES = 7;
/** struct pollfd: int fd; short events; short revents. */
const POLLFD_SIZE = 8;
const POLLIN = 0x1;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
/** The eventfd increment close() writes (any non-zero u64). */
const WAKE = new BigUint64Array([1n]);
/** poll(2) failures in a row taken as lasting (EINTR does not repeat). */
const POLL_FAILURES = 100;

export interface LinkEvent {
  type: "new" | "del";
  link: Link;
}

/**
 * One change: a link, an ARP/NDP neighbour, an FDB entry (AF_BRIDGE
 * neighbour) or a route (`dev` names are not resolved: compare `index`), or
 * "overflow" when the kernel dropped notifications because they were not
 * read fast enough (the receiver should compare the whole state).
 */
export type NetEvent =
  | { kind: "link"; type: "new" | "del"; link: Link }
  | { kind: "neigh"; type: "new" | "del"; neigh: Neigh & { family: 4 | 6 } }
  | { kind: "fdb"; type: "new" | "del"; fdb: Fdb }
  | { kind: "route"; type: "new" | "del"; route: Route }
  | { kind: "overflow" };

export type EventStream<T> = AsyncIterableIterator<T> & { close(): void };
export type LinkEventStream = EventStream<LinkEvent>;
export type NetEventStream = EventStream<NetEvent>;

/** Closes an eventfd left open by a subscription nobody closed. */
const wakeFds = new FinalizationRegistry<number>((fd) => libs().c.close(fd));

class Subscription<T> implements AsyncIterableIterator<T> {
  #sock: NlSocket;
  /** eventfd written by close() to end a poll under way. */
  #wake: number;
  /** struct pollfd[2]: the socket, then #wake; poll() reads it off-thread. */
  #fds = new Uint8Array(2 * POLLFD_SIZE);
  #queue: T[] = [];
  #closed = false;
  /** The poll(2) under way (shared by concurrent next() calls), if any. */
  #polling: Promise<void> | null = null;
  #pollFailures = 0;

  constructor(
    opts: {
      netns?: string;
      groups: number[];
      protocol?: number;
    },
    readonly op: string,
    readonly decode: (m: Msg) => T | null,
    /** What to queue when the kernel dropped events; null: throw. */
    readonly overflow: T | null,
  ) {
    this.#sock = NlSocket.open({
      netns: opts.netns,
      protocol: opts.protocol,
      groups: opts.groups,
      nonblocking: true,
      rcvbuf: 1 << 20,
    });
    const { c } = libs();
    const wake = c.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake < 0) {
      const code = errno();
      this.#sock.close();
      throw new NetlinkError(code, `${op}: eventfd`);
    }
    this.#wake = wake;
    wakeFds.register(this, wake, this);
    const v = new DataView(this.#fds.buffer);
    v.setInt32(0, this.#sock.fd, true);
    v.setInt16(4, POLLIN, true);
    v.setInt32(POLLFD_SIZE, wake, true);
    v.setInt16(POLLFD_SIZE + 4, POLLIN, true);
  }

  #drain(): void {
    for (;;) {
      let buf: Uint8Array | null;
      try {
        buf = this.#sock.recv(this.op);
      } catch (e) {
        if (
          this.overflow === null || !(e instanceof NetlinkError) ||
          (e.code !== "ENOMEM" && e.code !== "ENOBUFS")
        ) {
          throw e;
        }
        this.#queue.push(this.overflow);
        continue;
      }
      if (buf === null) return;
      for (const m of messages(buf)) {
        const ev = this.decode(m);
        if (ev !== null) this.#queue.push(ev);
      }
    }
  }

  /**
   * Waits, on a worker thread, until the socket is readable (or has an
   * error such as ENOBUFS pending) or close() writes the eventfd: no timer,
   * nothing runs while idle. The socket and eventfd are freed only once no
   * poll uses them.
   */
  #wait(): Promise<void> {
    return this.#polling ??= (async () => {
      try {
        const n = await libs().c.poll(this.#fds, 2n, -1);
        // -1 is EINTR (a signal reached the worker thread: poll again) or a
        // failure that would repeat; errno is the worker's, so count them.
        this.#pollFailures = n < 0 ? this.#pollFailures + 1 : 0;
      } finally {
        this.#polling = null;
        if (this.#closed) this.#release();
      }
      if (this.#pollFailures >= POLL_FAILURES) {
        throw new NetlinkError(5, `${this.op}: poll`, {
          detail: `poll failed ${POLL_FAILURES} times in a row`,
        });
      }
    })();
  }

  async next(): Promise<IteratorResult<T>> {
    while (!this.#closed) {
      this.#drain();
      if (this.#queue.length) {
        return { value: this.#queue.shift()!, done: false };
      }
      await this.#wait();
    }
    return { value: undefined, done: true };
  }

  async return(): Promise<IteratorResult<T>> {
    this.close();
    await this.#polling; // the worker thread is done with our fds
    return { value: undefined, done: true };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // A poll under way still reads the fds: wake it; it frees them.
    if (this.#polling) {
      libs().c.write(this.#wake, WAKE, 8n);
    } else this.#release();
  }

  #release(): void {
    this.#sock.close();
    wakeFds.unregister(this);
    libs().c.close(this.#wake);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Subscribes to link changes (in `netns` when given). Iterate with
 * `for await`; `close()` (or breaking out of the loop) ends the stream. A
 * NetlinkError (ENOMEM) from the iterator means the kernel dropped events
 * because they were not read fast enough: relist.
 */
export function linkEvents(opts: { netns?: string } = {}): LinkEventStream {
  return new Subscription<LinkEvent>(
    { netns: opts.netns, groups: [RTNLGRP_LINK] },
    "link events",
    (m) =>
      m.type === RTM_NEWLINK || m.type === RTM_DELLINK
        ? { type: m.type === RTM_NEWLINK ? "new" : "del", link: decodeLink(m) }
        : null,
    null,
  );
}

const NO_NAMES = new Map<number, string>();

function decodeNetEvent(m: Msg): NetEvent | null {
  switch (m.type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      return {
        kind: "link",
        type: m.type === RTM_NEWLINK ? "new" : "del",
        link: decodeLink(m),
      };
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: {
      const type = m.type === RTM_NEWNEIGH ? "new" : "del";
      if (m.data.getUint8(0) === AF_BRIDGE) {
        const fdb = decodeFdb(m, NO_NAMES);
        return fdb ? { kind: "fdb", type, fdb } : null;
      }
      const neigh = decodeNeigh(m, NO_NAMES);
      return neigh ? { kind: "neigh", type, neigh } : null;
    }
    case RTM_NEWROUTE:
    case RTM_DELROUTE: {
      const r = decodeRoute(m, NO_NAMES);
      if (!r || r.flags & RTM_F_CLONED) return null; // route cache entries
      const { flags: _, ...route } = r;
      return {
        kind: "route",
        type: m.type === RTM_NEWROUTE ? "new" : "del",
        route,
      };
    }
  }
  return null;
}

/**
 * Subscribes to link, neighbour/FDB and (IPv4 and IPv6) route changes in
 * `netns` (default: ours); `kinds` picks the groups (all three by default).
 * Dropped notifications arrive as one `{ kind: "overflow" }` event and the
 * stream goes on.
 */
export function netEvents(
  opts: { netns?: string; kinds?: ("link" | "neigh" | "route")[] } = {},
): NetEventStream {
  const kinds = opts.kinds ?? ["link", "neigh", "route"];
  const groups: number[] = [];
  if (kinds.includes("link")) groups.push(RTNLGRP_LINK);
  if (kinds.includes("neigh")) groups.push(RTNLGRP_NEIGH);
  if (kinds.includes("route")) {
    groups.push(RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE);
  }
  return new Subscription<NetEvent>(
    { netns: opts.netns, groups },
    "net events",
    decodeNetEvent,
    { kind: "overflow" },
  );
}

/** An nf_tables rule-set change (iptables-nft and nft both make these). */
export interface NftEvent {
  /** false for a normal change, true when notifications were dropped. */
  overflow: boolean;
}

/**
 * Subscribes to nf_tables changes in `netns` (NFNLGRP_NFTABLES): one event
 * per notification, whatever table it touches. Rules made by
 * iptables-legacy cause none.
 */
export function nftEvents(
  opts: {
    netns?: string;
    /** @deprecated Ignored: the socket is waited on, not polled. */
    pollMs?: number;
  } = {},
): EventStream<NftEvent> {
  return new Subscription<NftEvent>(
    {
      netns: opts.netns,
      protocol: NETLINK_NETFILTER,
      groups: [NFNLGRP_NFTABLES],
    },
    "nftables events",
    (m) => m.type > 3 ? { overflow: false } : null,
    { overflow: true },
  );
}
