// The vxlan backend, one per address family: device flannel.<VNI> (IPv4)
// or flannel-v6.<VNI> (IPv6); per remote lease a
// permanent neighbour, an FDB entry and an onlink route (or a direct route
// when the peer is on-link and DirectRouting is on), and a reconcile pass
// that removes whatever on the device belongs to no lease.

import type { NetEvent } from "../../../ffi/mod.ts";
import { CIDR, IP, randomMAC } from "../../net/mod.ts";
import {
  type Dataplane,
  type DpLink,
  type DpRoute,
  errCode,
} from "../dataplane.ts";
import { FlannelError } from "../errors.ts";
import { type Lease, vxlanData } from "../lease.ts";
import {
  defaultMetric,
  routeConflict,
  WEFT_ROUTE_PROTO,
} from "../route_guard.ts";
import { ensureOverlayAddr } from "./overlay_addr.ts";
import { peerSide } from "./side.ts";
import type {
  Backend,
  BackendDeps,
  ExternalInterface,
  ReconcileReport,
} from "./types.ts";

const DEFAULT_PORT = 8472;
const OVERHEAD = 50;
const OVERHEAD6 = 70;

/** One remote lease as the vxlan backend programs it. */
interface Entry {
  node: string;
  subnet: CIDR;
  gw: string;
  mac: string;
  dst: string;
  /** Route straight to the peer's public IP (DirectRouting, on-link). */
  direct: boolean;
}

export class VxlanBackend implements Backend {
  readonly type = "vxlan";
  readonly device: string;
  readonly mtu: number;
  readonly family: 4 | 6;
  #nl: Dataplane;
  #deps: BackendDeps;
  #ext: ExternalInterface;
  #mac: string;
  #subnet: CIDR | null = null;
  #index = 0;
  /** What the leases want on the device, by node (programmed entries). */
  #want = new Map<string, Entry>();
  #wantMaps: WantMaps | null = null;
  /** Leases refused by the route guard, and why (logged once each). */
  #refused = new Map<string, string>();

  constructor(deps: BackendDeps, family: 4 | 6 = 4) {
    this.#deps = deps;
    this.#nl = deps.nl;
    this.#ext = deps.ext;
    this.family = family;
    const b = deps.conf.backend;
    this.device = family === 4 ? `flannel.${b.vni}` : `flannel-v6.${b.vni}`;
    // IPv4 underlay: 50 bytes of VXLAN headers; IPv6 underlay: 70 (the
    // kernel refuses more on flannel-v6.<VNI>).
    this.mtu = (b.mtu || deps.ext.mtu) - (family === 4 ? OVERHEAD : OVERHEAD6);
    const prev = vxlanData(
      family === 4 ? deps.previousData : deps.previousV6Data,
    );
    this.#mac = prev && prev.VNI === b.vni ? prev.VtepMAC : randomMAC();
  }

  get #local(): string | null {
    const a = this.family === 4 ? this.#ext.ifaceAddr : this.#ext.ifaceAddr6;
    return a?.toString() ?? null;
  }

  get #network(): CIDR | null {
    const c = this.#deps.conf;
    return this.family === 4 ? c.network : c.ipv6Network;
  }

  backendData(): { VNI: number; VtepMAC: string } {
    return { VNI: this.#deps.conf.backend.vni, VtepMAC: this.#mac };
  }

  backendV6Data(): { VNI: number; VtepMAC: string } | null {
    return this.family === 6 ? this.backendData() : null;
  }

  get vtepMAC(): string {
    return this.#mac;
  }

  /** Why an existing device cannot be reused, or null when it can. */
  #incompatible(l: DpLink): string | null {
    const b = this.#deps.conf.backend;
    if (l.kind !== "vxlan" || !l.vxlan) return `type ${l.kind}`;
    const v = l.vxlan;
    if (v.id !== b.vni) return `VNI ${v.id}`;
    if (v.dev !== null && v.dev !== this.#ext.index) return `uplink ${v.dev}`;
    if ((v.local ?? null) !== this.#local) return `local address ${v.local}`;
    if (v.port !== (b.port || DEFAULT_PORT)) return `port ${v.port}`;
    if (v.gbp !== b.gbp) return `gbp ${v.gbp}`;
    if (v.learning !== b.learning) return `learning ${v.learning}`;
    return null;
  }

  /** Creates flannel.<VNI>, or reuses a compatible one; returns the link and
   * whether it was created. */
  #ensureLink(): { link: DpLink; created: boolean } {
    const b = this.#deps.conf.backend;
    const existing = this.#nl.linkGet(this.device);
    if (existing) {
      const why = this.#incompatible(existing);
      if (!why) {
        if (existing.mtu !== this.mtu) {
          this.#nl.linkSet(existing.index, { mtu: this.mtu });
        }
        if (existing.mac !== this.#mac) {
          this.#nl.linkSet(existing.index, { mac: this.#mac });
        }
        return { link: existing, created: false };
      }
      this.#deps.log(
        `${this.device} exists with incompatible ${why}; recreating it`,
      );
      this.#nl.linkDel(existing.index);
    }
    const link = this.#nl.linkAdd({
      name: this.device,
      kind: "vxlan",
      mtu: this.mtu,
      mac: this.#mac,
      vxlan: {
        id: b.vni,
        port: b.port || DEFAULT_PORT,
        local: this.#local ?? undefined,
        dev: this.#ext.index,
        learning: b.learning,
        gbp: b.gbp,
      },
    });
    this.#deps.log(`created ${this.device} (VTEP MAC ${this.#mac})`);
    return { link, created: true };
  }

  #ensureDevice(): boolean {
    const { link, created } = this.#ensureLink();
    this.#index = link.index;
    if (created && this.family === 6 && this.#deps.sysctl) {
      this.#deps.sysctl(`net/ipv6/conf/${this.device}/accept_ra`, "0");
    }
    if (this.#subnet) {
      ensureOverlayAddr(
        this.#nl,
        link.index,
        this.family,
        this.#subnet,
        this.#network,
      );
    }
    if (!link.up || created) this.#nl.linkSet(link.index, { up: true });
    const after = this.#nl.linkGet(link.index);
    if (!after) {
      throw new FlannelError(`${this.device} vanished while configuring it`);
    }
    if (after.mac !== this.#mac) {
      throw new FlannelError(
        `${this.device} has MAC ${after.mac} after link up instead of ${this.#mac}; ` +
          `something (e.g. systemd-networkd MACAddressPolicy) changes it: ` +
          `exclude ${this.device} from MAC address policies`,
      );
    }
    return created;
  }

  configure(own: { subnet: CIDR | null; ipv6Subnet?: CIDR | null }): void {
    this.#subnet = this.family === 4 ? own.subnet : own.ipv6Subnet ?? null;
    this.#ensureDevice();
  }

  /** A lease's entry, or the reason (a string) why it cannot be used. */
  #entry(l: Lease): Entry | string {
    const side = peerSide(l, this.family, "vxlan", vxlanData);
    if (typeof side === "string") return side;
    const d = side.data;
    return {
      node: l.node,
      subnet: side.subnet.network(),
      gw: side.subnet.network().ip.toString(),
      mac: d.VtepMAC,
      dst: side.publicIP.toString(),
      direct: this.#directOK(side.publicIP),
    };
  }

  #directOK(ip: IP): boolean {
    if (!this.#deps.conf.backend.directRouting) return false;
    try {
      const r = this.#nl.routeGet(ip.toString());
      return !r.gw && r.type === "unicast";
    } catch {
      return false;
    }
  }

  #undo(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#deps.log(`rollback ${what} failed: ${(e as Error).message}`);
    }
  }

  /** A route weft may replace: its own, or any on the overlay device. */
  #ours = (r: DpRoute): boolean =>
    r.index === this.#index || r.protocol === WEFT_ROUTE_PROTO;

  /** Why the lease's route must not be written (logged once), or null. */
  #guard(e: Entry): string | null {
    const why = routeConflict(this.#nl, e.subnet, this.#ours, [
      this.family === 4 ? this.#ext.ifaceAddr : this.#ext.ifaceAddr6,
      this.family === 4 ? this.#ext.extAddr : this.#ext.extAddr6,
    ]);
    const key = `${e.node} ${e.subnet}`;
    if (why === null) {
      this.#refused.delete(key);
    } else if (this.#refused.get(key) !== why) {
      this.#refused.set(key, why);
      this.#deps.log(
        `refusing lease of ${e.node} (${e.subnet}): ${why}; nothing installed`,
      );
    }
    return why;
  }

  #setWant(node: string, e: Entry | null): void {
    if (e) this.#want.set(node, e);
    else this.#want.delete(node);
    this.#wantMaps = null;
  }

  #program(e: Entry): void {
    const dev = this.#index;
    const why = this.#guard(e);
    if (why !== null) {
      this.#setWant(e.node, null);
      return; // logged by the guard
    }
    this.#setWant(e.node, e);
    if (e.direct) {
      this.#nl.routeReplace({
        dst: e.subnet.toString(),
        gw: e.dst,
        protocol: WEFT_ROUTE_PROTO,
      });
      return;
    }
    this.#nl.neighSet(dev, e.gw, e.mac);
    try {
      this.#nl.fdbSet(dev, e.mac, e.dst);
    } catch (err) {
      this.#undo("neighbour", () => this.#nl.neighDel(dev, e.gw));
      throw err;
    }
    try {
      this.#nl.routeReplace({
        dst: e.subnet.toString(),
        gw: e.gw,
        dev,
        onlink: true,
        scope: "universe",
        protocol: WEFT_ROUTE_PROTO,
      });
    } catch (err) {
      this.#undo("neighbour", () => this.#nl.neighDel(dev, e.gw));
      this.#undo("fdb", () => this.#nl.fdbDel(dev, e.mac, e.dst));
      throw err;
    }
  }

  addLease(l: Lease): void {
    const e = this.#entry(l);
    if (typeof e === "string") {
      this.#deps.log(`skipping lease: ${e}`);
      return;
    }
    this.#program(e);
  }

  removeLease(l: Lease): void {
    const e = this.#entry(l);
    if (typeof e === "string") return;
    const programmed = this.#want.get(l.node);
    this.#setWant(l.node, null);
    if (!programmed || programmed.subnet.toString() !== e.subnet.toString()) {
      return; // refused (or never programmed): nothing of ours to remove
    }
    const dev = this.#index;
    const quiet = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (err) {
        const c = errCode(err);
        if (c !== "ENOENT" && c !== "ESRCH" && c !== "ENODEV") {
          this.#deps.log(`removing ${what} of ${l.node}: ${err}`);
        }
      }
    };
    if (e.direct) {
      quiet(
        "route",
        () =>
          this.#nl.routeDel({
            dst: e.subnet.toString(),
            gw: e.dst,
            protocol: WEFT_ROUTE_PROTO,
          }),
      );
      return;
    }
    quiet("neighbour", () => this.#nl.neighDel(dev, e.gw));
    quiet("fdb", () => this.#nl.fdbDel(dev, e.mac, e.dst));
    quiet(
      "route",
      () => this.#nl.routeDel({ dst: e.subnet.toString(), gw: e.gw, dev }),
    );
  }

  reconcile(leases: Lease[]): ReconcileReport {
    const recreated = this.#ensureDevice();
    const report: ReconcileReport = { recreated, fixed: 0, removed: 0 };
    const dev = this.#index;
    const entries: Entry[] = [];
    for (const l of leases) {
      const e = this.#entry(l);
      if (typeof e !== "string") entries.push(e);
    }

    // Routes first: a lease whose route is missing is checked by the guard,
    // and a refused lease gets no neighbour or FDB entry either.
    const routeWant = new Map<string, Entry>();
    for (const e of entries) routeWant.set(e.subnet.toString(), e);
    const seen = new Set<string>();
    const stale: DpRoute[] = [];
    for (const r of this.#nl.routeList({ family: this.family, table: 254 })) {
      const place = this.#routePlace(r);
      if (place === null) continue;
      const w = routeWant.get(r.dst);
      const ok = w && r.gw === (w.direct ? w.dst : w.gw) &&
        (w.direct ? place === "uplink" : r.onlink === true) &&
        defaultMetric(r);
      if (ok && !seen.has(r.dst)) {
        seen.add(r.dst);
        continue;
      }
      // A wrong route for a lease's subnet is replaced below (same metric).
      if (w && !seen.has(r.dst) && defaultMetric(r)) continue;
      stale.push(r);
    }
    const want = entries.filter((e) =>
      seen.has(e.subnet.toString()) || this.#guard(e) === null
    );
    this.#want = new Map(want.map((e) => [e.node, e]));
    this.#wantMaps = null;
    const { neigh: neighWant0, fdb: fdbWant } = this.#maps();
    const neighWant = new Map(neighWant0);

    // Neighbours on the device.
    for (const n of this.#nl.neighList({ dev, family: this.family })) {
      // Link-local and multicast (NOARP) entries are the kernel's own.
      if (n.state.includes("NOARP") || isLocalOrMulticast(n.ip)) continue;
      const mac = neighWant.get(n.ip);
      if (mac === undefined) {
        this.#nl.neighDel(dev, n.ip);
        report.removed++;
      } else if (n.mac === mac && n.state.includes("PERMANENT")) {
        neighWant.delete(n.ip);
      }
    }
    for (const [ip, mac] of neighWant) {
      this.#nl.neighSet(dev, ip, mac);
      report.fixed++;
    }

    // FDB entries on the device.
    const fdbOk = new Set<string>();
    for (const f of this.#nl.fdbList(dev)) {
      if (f.dev !== this.device && f.index !== dev) continue;
      const dst = fdbWant.get(f.mac);
      if (dst !== undefined && dst === f.dst && !fdbOk.has(f.mac)) {
        fdbOk.add(f.mac);
        continue;
      }
      this.#nl.fdbDel(dev, f.mac, f.dst ?? undefined);
      report.removed++;
    }
    for (const [mac, dst] of fdbWant) {
      if (fdbOk.has(mac)) continue;
      this.#nl.fdbSet(dev, mac, dst);
      report.fixed++;
    }

    // Routes: onlink routes on the device, direct routes via the uplink
    // (only weft's own are removed there).
    for (const r of stale) {
      this.#nl.routeDel({
        dst: r.dst,
        gw: r.gw,
        dev: r.index,
        table: 254,
        metric: r.metric,
        protocol: r.protocol,
      });
      report.removed++;
    }
    for (const e of want) {
      const key = e.subnet.toString();
      if (seen.has(key)) continue;
      if (e.direct) {
        this.#nl.routeReplace({
          dst: key,
          gw: e.dst,
          protocol: WEFT_ROUTE_PROTO,
        });
      } else {
        this.#nl.routeReplace({
          dst: key,
          gw: e.gw,
          dev,
          onlink: true,
          scope: "universe",
          protocol: WEFT_ROUTE_PROTO,
        });
      }
      report.fixed++;
    }
    return report;
  }

  /**
   * Where a main-table route of this family stands: "device" (on the
   * overlay device), "uplink" (weft's route via the uplink into the
   * network), or null when it is none of weft's business.
   */
  #routePlace(r: DpRoute): "device" | "uplink" | null {
    if (r.family !== this.family || (r.table ?? 254) !== 254) return null;
    if (r.dst.toLowerCase().startsWith("fe80:") || onlyKernel(r)) return null;
    if (r.index === this.#index) return "device";
    const network = this.#network;
    if (
      r.index === this.#ext.index && !!r.gw &&
      r.protocol === WEFT_ROUTE_PROTO && !!network &&
      network.contains(CIDR.parse(r.dst).ip) &&
      r.dst !== this.#subnet?.network().toString()
    ) {
      return "uplink";
    }
    return null;
  }

  /** The programmed leases as lookup maps (cached until they change). */
  #maps(): WantMaps {
    if (this.#wantMaps) return this.#wantMaps;
    const m: WantMaps = { neigh: new Map(), fdb: new Map(), route: new Map() };
    for (const e of this.#want.values()) {
      m.route.set(e.subnet.toString(), {
        gw: e.direct ? e.dst : e.gw,
        direct: e.direct,
      });
      if (e.direct) continue;
      m.neigh.set(e.gw, e.mac);
      m.fdb.set(e.mac, e.dst);
    }
    return this.#wantMaps = m;
  }

  /**
   * Why a netlink change disagrees with the programmed leases (a repair
   * pass is due), or null when it agrees or is none of this backend's
   * business: weft's own writes agree, so they cause no pass.
   */
  drift(ev: NetEvent): string | null {
    const w = this.#maps();
    switch (ev.kind) {
      case "overflow":
        return "netlink notifications were dropped";
      case "link": {
        const l = ev.link;
        if (l.name !== this.device && l.index !== this.#index) return null;
        // A deletion is reported even when a pass already recreated the
        // device under a new index (the notification arrived late).
        if (ev.type === "del") return `${this.device} was deleted`;
        if (l.name !== this.device) return `${this.device} was renamed`;
        if (l.index !== this.#index) return `${this.device} was recreated`;
        return l.up ? null : `${this.device} was set down`;
      }
      case "neigh": {
        const n = ev.neigh;
        if (n.index !== this.#index || n.family !== this.family) return null;
        if (n.state.includes("NOARP") || isLocalOrMulticast(n.ip)) return null;
        const mac = w.neigh.get(n.ip);
        if (ev.type === "del") {
          return mac !== undefined ? `neighbour ${n.ip} was deleted` : null;
        }
        if (mac === undefined) return `neighbour ${n.ip} belongs to no lease`;
        return n.mac === mac && n.state.includes("PERMANENT")
          ? null
          : `neighbour ${n.ip} is ${n.mac ?? "unresolved"} (${
            n.state.join(",")
          }), not ${mac}`;
      }
      case "fdb": {
        const f = ev.fdb;
        if (f.index !== this.#index) return null;
        const dst = w.fdb.get(f.mac);
        if (ev.type === "del") {
          return dst !== undefined && dst === f.dst
            ? `fdb entry ${f.mac} was deleted`
            : null;
        }
        if (dst === undefined) return `fdb entry ${f.mac} belongs to no lease`;
        return dst === f.dst ? null : `fdb entry ${f.mac} points to ${f.dst}`;
      }
      case "route": {
        const r = ev.route;
        const place = this.#routePlace(r);
        if (place === null) return null;
        const want = w.route.get(r.dst);
        const agrees = !!want && r.gw === want.gw &&
          (want.direct ? place === "uplink" : r.onlink === true) &&
          defaultMetric(r);
        if (ev.type === "del") {
          return agrees ? `route ${r.dst} was deleted` : null;
        }
        return agrees ? null : `route ${r.dst} via ${r.gw} belongs to no lease`;
      }
    }
  }
}

interface WantMaps {
  neigh: Map<string, string>;
  fdb: Map<string, string>;
  route: Map<string, { gw: string; direct: boolean }>;
}

/** Routes the kernel adds itself (proto kernel, or multicast/local ones). */
function onlyKernel(r: { protocol?: number; type: string }): boolean {
  return r.protocol === 2 || (r.type !== "unicast" && r.type !== undefined);
}

function isLocalOrMulticast(ip: string): boolean {
  const v = ip.toLowerCase();
  if (v.includes(":")) return v.startsWith("fe80:") || v.startsWith("ff");
  const first = Number(v.split(".")[0]);
  return first >= 224 && first <= 239;
}
