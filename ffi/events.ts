// RTM_NEWLINK/RTM_DELLINK notifications as an async iterator. The socket is
// nonblocking and polled on a short timer, so the event loop never blocks.

import { decodeLink, RTM_DELLINK, RTM_NEWLINK } from "./link.ts";
import { NlSocket } from "./socket.ts";
import { messages } from "./_wire.ts";
import type { Link } from "./types.ts";

const RTNLGRP_LINK = 1;
const POLL_MS = 20;

export interface LinkEvent {
  type: "new" | "del";
  link: Link;
}

export type LinkEventStream = AsyncIterableIterator<LinkEvent> & {
  close(): void;
};

class LinkEvents implements AsyncIterableIterator<LinkEvent> {
  #sock: NlSocket;
  #queue: LinkEvent[] = [];
  /** Pending waits (one per concurrent next()): timer and its resolver. */
  #waits = new Map<ReturnType<typeof setTimeout>, () => void>();

  constructor(netns: string | undefined) {
    this.#sock = NlSocket.open({
      netns,
      groups: [RTNLGRP_LINK],
      nonblocking: true,
      rcvbuf: 1 << 20,
    });
  }

  #drain(): void {
    for (;;) {
      const buf = this.#sock.recv("link events");
      if (buf === null) return;
      for (const m of messages(buf)) {
        if (m.type === RTM_NEWLINK || m.type === RTM_DELLINK) {
          this.#queue.push({
            type: m.type === RTM_NEWLINK ? "new" : "del",
            link: decodeLink(m),
          });
        }
      }
    }
  }

  async next(): Promise<IteratorResult<LinkEvent>> {
    while (!this.#sock.closed) {
      this.#drain();
      const ev = this.#queue.shift();
      if (ev) return { value: ev, done: false };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#waits.delete(timer);
          resolve();
        }, POLL_MS);
        this.#waits.set(timer, resolve);
      });
    }
    return { value: undefined, done: true };
  }

  return(): Promise<IteratorResult<LinkEvent>> {
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
  return new LinkEvents(opts.netns);
}
