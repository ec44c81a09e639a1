// Where a TCP listener binds for a --bind-address. No address, `0.0.0.0`
// and `::` all mean "every address of every family", as kube-apiserver
// reads its --bind-address: one socket on `::`, which on Linux (with
// net.ipv6.bindv6only=0, the default) also accepts IPv4 as v4-mapped
// peers; where bindv6only=1, a second socket on `0.0.0.0` takes IPv4; on a
// host without IPv6 (ipv6.disable=1: no AF_INET6 sockets) the listener
// falls back to `0.0.0.0`. Any other address binds that address only.

import { unbracketHost } from "./hostport.ts";
import { closeQuietly } from "../util/close.ts";

/** True when `bind` means every address (none, "", 0.0.0.0, ::, [::]). */
export function isWildcard(bind: string | undefined): boolean {
  const b = unbracketHost(bind?.trim() ?? "");
  return b === "" || b === "0.0.0.0" || b === "::" || b === "0:0:0:0:0:0:0:0";
}

/** net.ipv6.bindv6only of this process's network namespace. */
export function readBindV6Only(): boolean {
  try {
    return Deno.readTextFileSync("/proc/sys/net/ipv6/bindv6only").trim() ===
      "1";
  } catch {
    return false;
  }
}

export interface ListenPlanOptions<T> {
  /** Opens one listener on `hostname`:`port` (throws when it cannot). */
  open: (hostname: string, port: number) => T;
  /** The port a listener got (for port 0: the second socket takes it). */
  portOf: (t: T) => number;
  close: (t: T) => void;
  /** Whether `::` sockets are IPv6-only here (default: the sysctl). */
  v6only?: () => boolean;
}

/**
 * Opens the listeners `bind` asks for (see the top of this file): one or,
 * where `::` takes no IPv4, two. Throws the open error when none can be
 * opened, or when the port is taken.
 */
export function listenEach<T>(
  bind: string | undefined,
  port: number,
  o: ListenPlanOptions<T>,
): T[] {
  if (!isWildcard(bind)) return [o.open(unbracketHost(bind!.trim()), port)];
  let any6: T;
  try {
    any6 = o.open("::", port);
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) throw e;
    // No IPv6 on this host: IPv4 only.
    return [o.open("0.0.0.0", port)];
  }
  if (!(o.v6only ?? readBindV6Only)()) return [any6];
  try {
    return [any6, o.open("0.0.0.0", o.portOf(any6))];
  } catch (e) {
    o.close(any6);
    throw e;
  }
}

/**
 * Opens listeners on both loopback addresses, 127.0.0.1 and ::1, each
 * where the host has it (a missing one is skipped; a taken port is an
 * error), so a local client of either family reaches the service.
 */
export function listenLoopback<T>(port: number, o: ListenPlanOptions<T>): T[] {
  const out: T[] = [];
  let first: unknown;
  for (const host of ["127.0.0.1", "::1"]) {
    try {
      out.push(o.open(host, out.length ? o.portOf(out[0]) : port));
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) {
        out.forEach(o.close);
        throw e;
      }
      first ??= e;
    }
  }
  if (out.length === 0) throw first;
  return out;
}

type Accepted<C> = { i: number; conn: C } | { i: number; err: unknown };

/**
 * Several listeners as one: accept() and iteration give the next connection
 * from any of them, close() closes all; `addr` is the first one's.
 */
export class ListenerGroup<C extends Deno.Conn, A extends Deno.Addr>
  implements Deno.Listener<C, A> {
  readonly #ls: Deno.Listener<C, A>[];
  readonly #pending: (Promise<Accepted<C>> | null)[];
  #queue: Promise<unknown> = Promise.resolve();

  constructor(listeners: Deno.Listener<C, A>[]) {
    if (listeners.length === 0) throw new TypeError("no listeners");
    this.#ls = listeners;
    this.#pending = listeners.map(() => null);
  }

  get addr(): A {
    return this.#ls[0].addr;
  }

  /** Every listener's address. */
  get addrs(): A[] {
    return this.#ls.map((l) => l.addr);
  }

  accept(): Promise<C> {
    if (this.#ls.length === 1) return this.#ls[0].accept();
    // One accept at a time: each listener has at most one pending accept,
    // and a connection is handed to exactly one caller.
    const next = this.#queue.then(() => this.#acceptAny());
    this.#queue = next.catch(() => {});
    return next;
  }

  async #acceptAny(): Promise<C> {
    for (let i = 0; i < this.#ls.length; i++) {
      this.#pending[i] ??= this.#ls[i].accept().then(
        (conn) => ({ i, conn }),
        (err) => ({ i, err }),
      );
    }
    const got = await Promise.race(this.#pending.filter((p) => p !== null));
    this.#pending[got.i] = null;
    if ("err" in got) throw got.err;
    return got.conn;
  }

  close(): void {
    for (const l of this.#ls) closeQuietly(l);
  }

  ref(): void {
    for (const l of this.#ls) l.ref();
  }

  unref(): void {
    for (const l of this.#ls) l.unref();
  }

  async *[Symbol.asyncIterator](): AsyncIterableIterator<C> {
    while (true) {
      try {
        yield await this.accept();
      } catch (e) {
        if (
          e instanceof Deno.errors.BadResource ||
          e instanceof Deno.errors.Interrupted
        ) return;
        throw e;
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Deno.listenTls for a --bind-address (see listenEach). */
export function listenTlsOn(
  bind: string | undefined,
  opts: Omit<Deno.ListenTlsOptions, "hostname"> & Deno.TlsCertifiedKeyPem,
): ListenerGroup<Deno.TlsConn, Deno.NetAddr> {
  const ls = listenEach(bind, opts.port ?? 0, {
    open: (hostname, port) => Deno.listenTls({ ...opts, hostname, port }),
    portOf: (l) => l.addr.port,
    close: closeQuietly,
  });
  return new ListenerGroup(ls);
}

/** Deno.listen (TCP) for a --bind-address (see listenEach). */
export function listenTcpOn(
  bind: string | undefined,
  port: number,
): ListenerGroup<Deno.TcpConn, Deno.NetAddr> {
  const ls = listenEach(bind, port, {
    open: (hostname, p) => Deno.listen({ hostname, port: p }),
    portOf: (l) => l.addr.port,
    close: closeQuietly,
  });
  return new ListenerGroup(ls);
}
