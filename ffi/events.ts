// Netlink notifications as async iterators: link changes (linkEvents), link,
// neighbour, FDB and route changes (netEvents), and nf_tables rule-set
// changes (nftEvents). The sockets are nonblocking and polled on a short
// timer, so the event loop never blocks.

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
import { messages, type Msg } from "./_wire.ts";
import type { Fdb, Link, Neigh, Route } from "./types.ts";

const RTNLGRP_LINK = 1;
const RTNLGRP_NEIGH = 3;
const RTNLGRP_IPV4_ROUTE = 7;
const RTNLGRP_IPV6_ROUTE = 11;
const NETLINK_NETFILTER = 12;
const NFNLGRP_NFTABLES = 7;
const POLL_MS = 20;

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

class Subscription<T> implements AsyncIterableIterator<T> {
  #sock: NlSocket;
  #queue: T[] = [];
  /** Pending waits (one per concurrent next()): timer and its resolver. */
  #waits = new Map<ReturnType<typeof setTimeout>, () => void>();
  #pollMs: number;

  constructor(
    opts: {
      netns?: string;
      groups: number[];
      protocol?: number;
      pollMs?: number;
    },
    readonly op: string,
    readonly decode: (m: Msg) => T | null,
    /** What to queue when the kernel dropped events; null: throw. */
    readonly overflow: T | null,
  ) {
    this.#pollMs = opts.pollMs ?? POLL_MS;
    this.#sock = NlSocket.open({
      netns: opts.netns,
      protocol: opts.protocol,
      groups: opts.groups,
      nonblocking: true,
      rcvbuf: 1 << 20,
    });
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

  async next(): Promise<IteratorResult<T>> {
    while (!this.#sock.closed) {
      this.#drain();
      if (this.#queue.length) {
        return { value: this.#queue.shift()!, done: false };
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#waits.delete(timer);
          resolve();
        }, this.#pollMs);
        this.#waits.set(timer, resolve);
      });
    }
    return { value: undefined, done: true };
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    this.#sock.close();
    for (const [timer, resolve] of this.#waits) {
      clearTimeout(timer);
      resolve();
    }
    this.#waits.clear();
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
 * iptables-legacy cause none. The socket is polled every `pollMs` (100 ms
 * by default: rule checks are not latency-critical).
 */
export function nftEvents(
  opts: { netns?: string; pollMs?: number } = {},
): EventStream<NftEvent> {
  return new Subscription<NftEvent>(
    {
      netns: opts.netns,
      pollMs: opts.pollMs ?? 100,
      protocol: NETLINK_NETFILTER,
      groups: [NFNLGRP_NFTABLES],
    },
    "nftables events",
    (m) => m.type > 3 ? { overflow: false } : null,
    { overflow: true },
  );
}
