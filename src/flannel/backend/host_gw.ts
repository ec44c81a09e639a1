// The host-gw backend: per remote lease a route `<subnet> via <public IP>
// dev <uplink>`; a differing route is replaced, a missing one re-added, and a
// route via the uplink into the cluster network that belongs to no lease is
// removed.

import { CIDR } from "../../net/mod.ts";
import type { Dataplane } from "../dataplane.ts";
import { errCode } from "../dataplane.ts";
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

  addLease(l: Lease): void {
    const r = this.#route(l);
    if (!r) return;
    this.#nl.routeReplace({ ...r, dev: this.#deps.ext.index });
  }

  removeLease(l: Lease): void {
    const r = this.#route(l);
    if (!r) return;
    try {
      this.#nl.routeDel({ ...r, dev: this.#deps.ext.index });
    } catch (e) {
      if (errCode(e) !== "ESRCH" && errCode(e) !== "ENOENT") {
        this.#deps.log(`removing route of ${l.node}: ${e}`);
      }
    }
  }

  reconcile(leases: Lease[]): ReconcileReport {
    const report: ReconcileReport = { recreated: false, fixed: 0, removed: 0 };
    const want = new Map<string, string>();
    for (const l of leases) {
      const r = this.#route(l);
      if (r) want.set(r.dst, r.gw);
    }
    const up = this.#deps.ext.index;
    const c = this.#deps.conf;
    const network = this.family === 4 ? c.network : c.ipv6Network;
    const own = this.#own?.toString();
    const ok = new Set<string>();
    for (const r of this.#nl.routeList({ family: this.family, table: 254 })) {
      if (r.index !== up || !r.gw || r.dst === own) continue;
      if (!network || !network.contains(CIDR.parse(r.dst).ip)) continue;
      const gw = want.get(r.dst);
      if (gw === r.gw && !ok.has(r.dst)) {
        ok.add(r.dst);
      } else if (gw === undefined) {
        this.#nl.routeDel({ dst: r.dst, gw: r.gw, dev: up, table: 254 });
        report.removed++;
      }
    }
    for (const [dst, gw] of want) {
      if (ok.has(dst)) continue;
      this.#nl.routeReplace({ dst, gw, dev: up });
      report.fixed++;
    }
    return report;
  }
}
