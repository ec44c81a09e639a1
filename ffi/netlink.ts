// The Netlink handle: one NETLINK_ROUTE socket (bound to a network namespace
// when asked) and the operations on links, addresses, routes, neighbours,
// FDB entries and qdiscs.

import { NetlinkError } from "./errors.ts";
import { openFd } from "./netns.ts";
import { libs } from "./_lib.ts";
import { NlSocket } from "./socket.ts";
import {
  type MsgBuilder,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
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
import {
  addrMsg,
  type AddrOptions,
  AF_INET,
  AF_INET6,
  decodeAddr,
  dumpAddrMsg,
  RTM_DELADDR,
  RTM_NEWADDR,
} from "./addr.ts";
import {
  decodeRoute,
  dumpRouteMsg,
  getRouteMsg,
  routeMsg,
  RT_TABLE_MAIN,
  RTM_DELROUTE,
  RTM_F_CLONED,
  RTM_NEWROUTE,
} from "./route.ts";
import {
  AF_BRIDGE,
  decodeFdb,
  decodeNeigh,
  dumpNeighMsg,
  fdbMsg,
  neighMsg,
  RTM_DELNEIGH,
  RTM_NEWNEIGH,
} from "./neigh.ts";
import {
  decodeQdisc,
  delQdiscMsg,
  dumpQdiscMsg,
  ingressMsg,
  redirectMsg,
  RTM_NEWQDISC,
  tbfMsg,
  type TbfOptions,
} from "./tc.ts";
import type {
  Addr,
  Fdb,
  Link,
  LinkChange,
  LinkSpec,
  Neigh,
  Qdisc,
  Route,
  RouteSpec,
} from "./types.ts";

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

  /** One request built for `dev`'s index (re-resolved once if it is stale). */
  #requestOn(
    dev: string | number,
    op: string,
    build: (index: number) => MsgBuilder,
  ): void {
    this.withDev(dev, op, (index) => this.request(build(index), op));
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
    this.#requestOn(port, op, (index) => hairpinMsg(index, on));
  }

  // ---- addresses ----------------------------------------------------------

  addrList(filter: { dev?: string | number; family?: 4 | 6 } = {}): Addr[] {
    const names = this.linkNames();
    const index = filter.dev === undefined
      ? undefined
      : this.resolve(filter.dev, "addr list");
    return this.dump(dumpAddrMsg(NLM_F_DUMP, filter.family), "addr list")
      .filter((m) => m.type === RTM_NEWADDR)
      .map((m) => decodeAddr(m, names))
      .filter((a): a is Addr =>
        a !== null && (index === undefined || a.index === index) &&
        (filter.family === undefined || a.family === filter.family)
      );
  }

  /** Adds an address ("10.42.1.1/24"); NetlinkError EEXIST when present. */
  addrAdd(
    dev: string | number,
    cidr: string,
    opts: AddrOptions = {},
  ): void {
    const op = `addr add ${cidr} dev ${dev}`;
    this.#requestOn(
      dev,
      op,
      (i) => addrMsg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, i, cidr, opts),
    );
  }

  /** Removes an address; NetlinkError EADDRNOTAVAIL when absent. */
  addrDel(dev: string | number, cidr: string): void {
    const op = `addr del ${cidr} dev ${dev}`;
    this.#requestOn(dev, op, (i) => addrMsg(RTM_DELADDR, 0, i, cidr));
  }

  // ---- routes -------------------------------------------------------------

  /** Routes of the main table (or `table`; 0 = every table). */
  routeList(
    filter: { family?: 4 | 6; table?: number; dev?: string | number } = {},
  ): Route[] {
    const names = this.linkNames();
    const table = filter.table ?? RT_TABLE_MAIN;
    const index = filter.dev === undefined
      ? undefined
      : this.resolve(filter.dev, "route list");
    const out: Route[] = [];
    for (
      const m of this.dump(
        dumpRouteMsg(NLM_F_DUMP, filter.family),
        "route list",
      )
    ) {
      if (m.type !== RTM_NEWROUTE) continue;
      const r = decodeRoute(m, names);
      if (!r || r.flags & RTM_F_CLONED) continue;
      if (filter.family !== undefined && r.family !== filter.family) continue;
      if (table !== 0 && r.table !== table) continue;
      if (index !== undefined && r.index !== index) continue;
      const { flags: _, ...route } = r;
      out.push(route);
    }
    return out;
  }

  #route(type: number, flags: number, r: RouteSpec, verb: string): void {
    const op = `route ${verb} ${r.dst}${r.gw ? ` via ${r.gw}` : ""}${
      r.dev !== undefined ? ` dev ${r.dev}` : ""
    }`;
    if (r.dev === undefined) {
      this.request(routeMsg(type, flags, r, undefined), op);
    } else {
      this.#requestOn(r.dev, op, (i) => routeMsg(type, flags, r, i));
    }
  }

  /** Adds a route; NetlinkError EEXIST when it exists. */
  routeAdd(r: RouteSpec): void {
    this.#route(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r, "add");
  }

  /** Adds or replaces a route. */
  routeReplace(r: RouteSpec): void {
    this.#route(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r, "replace");
  }

  /** Deletes a route; NetlinkError ESRCH when there is none. */
  routeDel(r: RouteSpec): void {
    this.#route(RTM_DELROUTE, 0, r, "del");
  }

  /**
   * The route the kernel picks for `ip` (RTM_GETROUTE); with `fibMatch` the
   * matching route entry itself (`ip route get fibmatch`): its prefix,
   * protocol and device (by `index` only: `dev` is not looked up).
   */
  routeGet(ip: string, opts: { fibMatch?: boolean } = {}): Route {
    const op = `route get${opts.fibMatch ? " fibmatch" : ""} ${ip}`;
    const m = this.request(getRouteMsg(ip, opts.fibMatch), op).find((m) =>
      m.type === RTM_NEWROUTE
    );
    const r = m ? decodeRoute(m, new Map()) : null;
    if (!r) throw new NetlinkError(3, op, { detail: "no route in the reply" });
    const { flags: _, ...route } = r;
    if (route.index !== undefined && !opts.fibMatch) {
      route.dev = this.linkGet(route.index)?.name;
    }
    return route;
  }

  // ---- neighbours -------------------------------------------------------------

  neighList(filter: { dev?: string | number; family?: 4 | 6 } = {}): Neigh[] {
    const names = this.linkNames();
    const index = filter.dev === undefined
      ? undefined
      : this.resolve(filter.dev, "neigh list");
    const af = filter.family === 4
      ? AF_INET
      : filter.family === 6
      ? AF_INET6
      : 0;
    return this.dump(dumpNeighMsg(NLM_F_DUMP, af), "neigh list")
      .filter((m) => m.type === RTM_NEWNEIGH)
      .map((m) => decodeNeigh(m, names))
      .filter((n): n is Neigh & { family: 4 | 6 } =>
        n !== null && (index === undefined || n.index === index) &&
        (filter.family === undefined || n.family === filter.family)
      );
  }

  /** Permanent ARP/NDP entry ip -> mac (created or replaced). */
  neighSet(dev: string | number, ip: string, mac: string): void {
    const op = `neigh replace ${ip} lladdr ${mac} dev ${dev}`;
    this.#requestOn(
      dev,
      op,
      (i) => neighMsg(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, i, ip, mac),
    );
  }

  /** Deletes a neighbour entry; NetlinkError ENOENT when absent. */
  neighDel(dev: string | number, ip: string): void {
    const op = `neigh del ${ip} dev ${dev}`;
    this.#requestOn(dev, op, (i) => neighMsg(RTM_DELNEIGH, 0, i, ip));
  }

  // ---- forwarding database --------------------------------------------------

  fdbList(dev?: string | number): Fdb[] {
    const names = this.linkNames();
    const index = dev === undefined ? undefined : this.resolve(dev, "fdb list");
    return this.dump(dumpNeighMsg(NLM_F_DUMP, AF_BRIDGE), "fdb list")
      .filter((m) => m.type === RTM_NEWNEIGH)
      .map((m) => decodeFdb(m, names))
      .filter((f): f is Fdb =>
        f !== null && (index === undefined || f.index === index)
      );
  }

  /** bridge fdb replace MAC dev DEV dst IP self permanent. */
  fdbSet(dev: string | number, mac: string, dst: string): void {
    const op = `fdb replace ${mac} dev ${dev} dst ${dst}`;
    this.#requestOn(
      dev,
      op,
      (i) => fdbMsg(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, i, mac, dst),
    );
  }

  /** bridge fdb append MAC dev DEV dst IP self permanent. */
  fdbAppend(dev: string | number, mac: string, dst: string): void {
    const op = `fdb append ${mac} dev ${dev} dst ${dst}`;
    this.#requestOn(
      dev,
      op,
      (i) => fdbMsg(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, i, mac, dst),
    );
  }

  /** bridge fdb del MAC dev DEV [dst IP] self; NetlinkError ENOENT when absent. */
  fdbDel(dev: string | number, mac: string, dst?: string): void {
    const op = `fdb del ${mac} dev ${dev}${dst ? ` dst ${dst}` : ""}`;
    this.#requestOn(dev, op, (i) => fdbMsg(RTM_DELNEIGH, 0, i, mac, dst));
  }

  // ---- traffic control --------------------------------------------------------

  /** Root tbf qdisc (rate in bit/s, burst in bytes), created or replaced. */
  qdiscTbf(dev: string | number, o: TbfOptions): void {
    const op =
      `qdisc replace dev ${dev} root tbf rate ${o.rate}bit burst ${o.burst}b`;
    this.#requestOn(dev, op, (i) => tbfMsg(NLM_F_CREATE | NLM_F_REPLACE, i, o));
  }

  /** The ingress qdisc (ffff:); a no-op when it is already there. */
  qdiscIngress(dev: string | number): void {
    const op = `qdisc add dev ${dev} ingress`;
    this.withDev(dev, op, (i) => {
      try {
        this.request(ingressMsg(NLM_F_CREATE | NLM_F_EXCL, i), op);
      } catch (e) {
        const present = this.qdiscList(i).some((q) => q.kind === "ingress");
        if (!(e instanceof NetlinkError && e.code === "EEXIST" && present)) {
          throw e;
        }
      }
    });
  }

  /** u32 match-all filter on dev's ingress redirecting every packet to `to`'s egress. */
  redirectIngress(dev: string | number, to: string | number): void {
    const op =
      `filter add dev ${dev} ingress u32 match all action mirred egress redirect dev ${to}`;
    const target = this.resolve(to, op);
    this.#requestOn(
      dev,
      op,
      (i) => redirectMsg(NLM_F_CREATE | NLM_F_EXCL, i, target),
    );
  }

  /** Deletes the root or ingress qdisc (and with it its filters). */
  qdiscDel(dev: string | number, kind: "root" | "ingress"): void {
    const op = `qdisc del dev ${dev} ${kind}`;
    this.#requestOn(dev, op, (i) => delQdiscMsg(i, kind));
  }

  qdiscList(dev?: string | number): Qdisc[] {
    const names = this.linkNames();
    const index = dev === undefined
      ? undefined
      : this.resolve(dev, "qdisc list");
    return this.dump(dumpQdiscMsg(NLM_F_DUMP), "qdisc list")
      .filter((m) => m.type === RTM_NEWQDISC)
      .map((m) => decodeQdisc(m, names))
      .filter((q) => index === undefined || q.index === index)
      .map(({ index: _, ...q }) => q);
  }
}
