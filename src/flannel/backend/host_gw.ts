// The host-gw backend: per remote lease a route `<subnet> via <public IP>
// dev <uplink> proto 87`; a differing route of weft's is replaced, a missing
// one re-added, and a route of weft's via the uplink into the cluster network
// that belongs to no lease is removed. Routes of others (an operator's, the
// connected underlay) are never replaced or removed.

import type { NetEvent } from "../../../ffi/mod.ts";
import { CIDR } from "../../net/mod.ts";
import type { Dataplane, DpRoute } from "../dataplane.ts";
import { errCode } from "../dataplane.ts";
import {
  defaultMetric,
  routeConflict,
  WEFT_ROUTE_PROTO,
} from "../route_guard.ts";
import type { Lease } from "../lease.ts";
import { leaseSide } from "./side.ts";
import type { Backend, BackendDeps, ReconcileReport } from "./types.ts";

export class HostGwBackend implements Backend {
  readonly type = "host-gw";
  readonly device = null;
  readonly mtu: number;
  #nl: Dataplane;
  #deps: BackendDeps;
  #own: CIDR | null = null;
  readonly family: 4 | 6;
  /** Programmed routes: subnet -> gateway. */
  #want = new Map<string, string>();
  /** Leases refused by the route guard, and why (logged once each). */
  #refused = new Map<string, string>();

  constructor(deps: BackendDeps, family: 4 | 6 = 4) {
    this.family = family;
    this.#deps = deps;
    this.#nl = deps.nl;
    this.mtu = deps.conf.backend.mtu || deps.ext.mtu;
  }

  backendData(): null {
    return null;
  }

  backendV6Data(): null {
    return null;
  }

  configure(own: { subnet: CIDR | null; ipv6Subnet?: CIDR | null }): void {
    const mine = this.family === 4 ? own.subnet : own.ipv6Subnet;
    this.#own = mine?.network() ?? null;
  }

  #route(l: Lease): { dst: string; gw: string } | null {
    const side = leaseSide(l, this.family);
    if (!side.subnet || !side.publicIP) return null;
    if (l.backendType !== "host-gw") {
      this.#deps.log(
        `skipping lease of ${l.node}: backend ${
          JSON.stringify(l.backendType)
        }, not host-gw`,
      );
      return null;
    }
    return {
      dst: side.subnet.network().toString(),
      gw: side.publicIP.toString(),
    };
  }

  #ours = (r: DpRoute): boolean => r.protocol === WEFT_ROUTE_PROTO;

  /** Why the route must not be written (logged once), or null. */
  #guard(node: string, dst: string): string | null {
    const ext = this.#deps.ext;
    const why = routeConflict(this.#nl, CIDR.parse(dst), this.#ours, [
      this.family === 4 ? ext.ifaceAddr : ext.ifaceAddr6,
      this.family === 4 ? ext.extAddr : ext.extAddr6,
    ]);
    const key = `${node} ${dst}`;
    if (why === null) this.#refused.delete(key);
    else if (this.#refused.get(key) !== why) {
      this.#refused.set(key, why);
      this.#deps.log(
        `refusing lease of ${node} (${dst}): ${why}; nothing installed`,
      );
    }
    return why;
  }

  #write(dst: string, gw: string): void {
    this.#nl.routeReplace({
      dst,
      gw,
      dev: this.#deps.ext.index,
      protocol: WEFT_ROUTE_PROTO,
    });
  }

  addLease(l: Lease): void {
    const r = this.#route(l);
    if (!r) return;
    const why = this.#guard(l.node, r.dst);
    if (why !== null) return; // logged by the guard
    this.#want.set(r.dst, r.gw);
    this.#write(r.dst, r.gw);
  }

  removeLease(l: Lease): void {
    const r = this.#route(l);
    if (!r) return;
    if (this.#want.get(r.dst) !== r.gw) return; // not programmed by us
    this.#want.delete(r.dst);
    try {
      this.#nl.routeDel({
        ...r,
        dev: this.#deps.ext.index,
        protocol: WEFT_ROUTE_PROTO,
      });
    } catch (e) {
      if (errCode(e) !== "ESRCH" && errCode(e) !== "ENOENT") {
        this.#deps.log(`removing route of ${l.node}: ${e}`);
      }
    }
  }

  /** weft's route via the uplink into the network (not our own subnet). */
  #mine(r: DpRoute): boolean {
    if (r.family !== this.family || (r.table ?? 254) !== 254) return false;
    if (r.index !== this.#deps.ext.index || !r.gw || !this.#ours(r)) {
      return false;
    }
    const c = this.#deps.conf;
    const network = this.family === 4 ? c.network : c.ipv6Network;
    return !!network && network.contains(CIDR.parse(r.dst).ip) &&
      r.dst !== this.#own?.toString();
  }

  reconcile(leases: Lease[]): ReconcileReport {
    const report: ReconcileReport = { recreated: false, fixed: 0, removed: 0 };
    const want = new Map<string, { gw: string; node: string }>();
    for (const l of leases) {
      const r = this.#route(l);
      if (r) want.set(r.dst, { gw: r.gw, node: l.node });
    }
    const up = this.#deps.ext.index;
    const ok = new Set<string>();
    for (const r of this.#nl.routeList({ family: this.family, table: 254 })) {
      if (!this.#mine(r)) continue;
      const w = want.get(r.dst);
      if (w?.gw === r.gw && !ok.has(r.dst) && defaultMetric(r)) {
        ok.add(r.dst);
      } else if (w === undefined || !defaultMetric(r)) {
        this.#nl.routeDel({
          dst: r.dst,
          gw: r.gw,
          dev: up,
          table: 254,
          metric: r.metric,
          protocol: WEFT_ROUTE_PROTO,
        });
        report.removed++;
      }
    }
    this.#want.clear();
    for (const [dst, w] of want) {
      if (ok.has(dst)) {
        this.#want.set(dst, w.gw);
        continue;
      }
      if (this.#guard(w.node, dst) !== null) continue;
      this.#want.set(dst, w.gw);
      this.#write(dst, w.gw);
      report.fixed++;
    }
    return report;
  }

  /** Why a route change disagrees with the programmed leases, or null. */
  drift(ev: NetEvent): string | null {
    if (ev.kind === "overflow") return "netlink notifications were dropped";
    if (ev.kind !== "route" || !this.#mine(ev.route)) return null;
    const r = ev.route;
    const agrees = this.#want.get(r.dst) === r.gw && defaultMetric(r);
    if (ev.type === "del") return agrees ? `route ${r.dst} was deleted` : null;
    return agrees ? null : `route ${r.dst} via ${r.gw} belongs to no lease`;
  }
}
