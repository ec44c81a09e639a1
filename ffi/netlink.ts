// The Netlink handle: one NETLINK_ROUTE socket (bound to a network namespace
// when asked) and the operations on links, addresses, routes, neighbours,
// FDB entries and qdiscs.

import { NetlinkError } from "./errors.ts";
import { openFd } from "./netns.ts";
import { libs } from "./_lib.ts";
import { NlSocket } from "./socket.ts";
import {
  type MsgBuilder,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
} from "./_wire.ts";
import {
  addLinkMsg,
  decodeLink,
  delLinkMsg,
  dumpLinkMsg,
  getLinkMsg,
  hairpinMsg,
  type LinkDeps,
  RTM_NEWLINK,
  setLinkMsg,
} from "./link.ts";
import type { Link, LinkChange, LinkSpec } from "./types.ts";

/** How long a name -> index lookup is reused (renames by others are rare). */
const NAME_TTL_MS = 1000;

export class Netlink implements Disposable {
  #sock: NlSocket;
  #names = new Map<string, { index: number; at: number }>();

  private constructor(sock: NlSocket) {
    this.#sock = sock;
  }

  /** Opens a handle; with `netns` (a path) its socket works in that namespace. */
  static open(opts: { netns?: string } = {}): Netlink {
    return new Netlink(NlSocket.open({ netns: opts.netns }));
  }

  close(): void {
    this.#sock.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Sends a request and waits for the ack; returns replies. */
  protected request(b: MsgBuilder, op: string) {
    return this.#sock.request(b, op);
  }

  protected dump(b: MsgBuilder, op: string) {
    return this.#sock.dump(b, op);
  }

  // ---- name resolution ----------------------------------------------------

  /** Index of a link given by name or index; ENODEV when there is none. */
  protected resolve(dev: string | number, op: string): number {
    if (typeof dev === "number") return dev;
    const hit = this.#names.get(dev);
    if (hit && performance.now() - hit.at < NAME_TTL_MS) return hit.index;
    const link = this.linkGet(dev);
    if (!link) {
      throw new NetlinkError(19, op, { detail: `no link named "${dev}"` });
    }
    return link.index;
  }

  /** Runs fn with the index of dev; retries once with a fresh lookup on ENODEV. */
  protected withDev<T>(
    dev: string | number,
    op: string,
    fn: (index: number) => T,
  ): T {
    const cached = typeof dev === "string" && this.#names.has(dev);
    const index = this.resolve(dev, op);
    try {
      return fn(index);
    } catch (e) {
      if (!cached || !(e instanceof NetlinkError) || e.code !== "ENODEV") {
        throw e;
      }
      this.#names.delete(dev as string);
      return fn(this.resolve(dev, op));
    }
  }

  #remember(link: Link): Link {
    this.#names.set(link.name, { index: link.index, at: performance.now() });
    return link;
  }

  #forget(nameOrIndex: string | number): void {
    if (typeof nameOrIndex === "string") this.#names.delete(nameOrIndex);
    else {
      for (const [name, v] of this.#names) {
        if (v.index === nameOrIndex) this.#names.delete(name);
      }
    }
  }

  /** Builds with netns paths opened as fds, closing them after the request. */
  #withDeps<T>(op: string, fn: (deps: LinkDeps) => T): T {
    const fds: number[] = [];
    try {
      return fn({
        resolve: (dev) => this.resolve(dev, op),
        nsFd: (path) => {
          const fd = openFd(path, op);
          fds.push(fd);
          return fd;
        },
      });
    } finally {
      for (const fd of fds) libs().c.close(fd);
    }
  }

  /** Index -> name of every link (for decoding addresses, routes, neighbours). */
  protected linkNames(): Map<number, string> {
    return new Map(this.linkList().map((l) => [l.index, l.name]));
  }

  // ---- links --------------------------------------------------------------

  linkList(): Link[] {
    return this.dump(dumpLinkMsg(NLM_F_DUMP), "link list")
      .filter((m) => m.type === RTM_NEWLINK)
      .map((m) => this.#remember(decodeLink(m)));
  }

  /** The link with that name or index, or null. */
  linkGet(nameOrIndex: string | number): Link | null {
    try {
      const msgs = this.request(
        getLinkMsg(nameOrIndex),
        `link get ${nameOrIndex}`,
      );
      const m = msgs.find((m) => m.type === RTM_NEWLINK);
      return m ? this.#remember(decodeLink(m)) : null;
    } catch (e) {
      if (e instanceof NetlinkError && e.code === "ENODEV") {
        this.#forget(nameOrIndex);
        return null;
      }
      throw e;
    }
  }

  /** Creates a link; NetlinkError EEXIST when one with that name exists. */
  linkAdd(spec: LinkSpec): Link {
    const op = `link add ${spec.name}`;
    this.#forget(spec.name);
    this.#withDeps(
      op,
      (deps) =>
        this.request(addLinkMsg(spec, NLM_F_CREATE | NLM_F_EXCL, deps), op),
    );
    const link = this.linkGet(spec.name);
    if (!link) {
      throw new NetlinkError(19, op, { detail: "created link vanished" });
    }
    return link;
  }

  /** Deletes a link; NetlinkError ENODEV when missing. */
  linkDel(nameOrIndex: string | number): void {
    this.#forget(nameOrIndex);
    this.request(delLinkMsg(nameOrIndex), `link del ${nameOrIndex}`);
  }

  /** Changes state, MTU, MAC, master, namespace, name or promiscuity. */
  linkSet(nameOrIndex: string | number, change: LinkChange): void {
    const op = `link set ${nameOrIndex}`;
    this.withDev(nameOrIndex, op, (index) => {
      this.#withDeps(
        op,
        (deps) => this.request(setLinkMsg(index, change, deps), op),
      );
      if (change.name !== undefined || change.netns !== undefined) {
        this.#forget(index);
      }
    });
  }

  /** Sets the hairpin flag of a bridge port (IFLA_BRPORT_MODE). */
  linkSetHairpin(port: string | number, on: boolean): void {
    const op = `link set ${port} hairpin ${on ? "on" : "off"}`;
    this.withDev(port, op, (index) => this.request(hairpinMsg(index, on), op));
  }
}
