// The vxlan backend, one per address family: device flannel.<VNI> (IPv4)
// or flannel-v6.<VNI> (IPv6); per remote lease a
// permanent neighbour, an FDB entry and an onlink route (or a direct route
// when the peer is on-link and DirectRouting is on), and a reconcile pass
// that removes whatever on the device belongs to no lease.

import { CIDR, IP, randomMAC } from "../../net/mod.ts";
import { type Dataplane, type DpLink, errCode } from "../dataplane.ts";
import { FlannelError } from "../errors.ts";
import { type Lease, vxlanData } from "../lease.ts";
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

  /** Creates flannel.<VNI>, or reuses a compatible one; returns its index. */
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

  /** A lease's entry, or null (with the reason) when it cannot be used. */
  #entry(l: Lease): Entry | string {
    const side = peerSide(l, this.family, "vxlan", vxlanData);
    if (typeof side === "string") return side;
    const d = side.data;
    return {
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

  #program(e: Entry): void {
    const dev = this.#index;
    if (e.direct) {
      this.#nl.routeReplace({ dst: e.subnet.toString(), gw: e.dst });
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
        () => this.#nl.routeDel({ dst: e.subnet.toString(), gw: e.dst }),
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
    const want: Entry[] = [];
    for (const l of leases) {
      const e = this.#entry(l);
      if (typeof e !== "string") want.push(e);
    }
    const overlay = want.filter((e) => !e.direct);

    // Neighbours on the device.
    const neighWant = new Map(overlay.map((e) => [e.gw, e.mac]));
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
    const fdbWant = new Map(overlay.map((e) => [e.mac, e.dst]));
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

    // Routes: onlink routes on the device, direct routes via the uplink.
    const routeWant = new Map<string, { gw: string; direct: boolean }>();
    for (const e of want) {
      routeWant.set(e.subnet.toString(), {
        gw: e.direct ? e.dst : e.gw,
        direct: e.direct,
      });
    }
    const seen = new Set<string>();
    const network = this.#network;
    const own = this.#subnet?.network().toString();
    for (const r of this.#nl.routeList({ family: this.family, table: 254 })) {
      if (r.dst.toLowerCase().startsWith("fe80:")) continue;
      if (onlyKernel(r)) continue;
      const onDev = r.index === dev;
      const viaUplink = r.index === this.#ext.index && !!r.gw &&
        !!network && network.contains(CIDR.parse(r.dst).ip) && r.dst !== own;
      if (!onDev && !viaUplink) continue;
      const w = routeWant.get(r.dst);
      const ok = w && r.gw === w.gw &&
        (w.direct ? viaUplink : onDev && r.onlink === true);
      if (ok && !seen.has(r.dst)) {
        seen.add(r.dst);
        continue;
      }
      if (w && !seen.has(r.dst)) continue; // rewritten below
      this.#nl.routeDel({ dst: r.dst, gw: r.gw, dev: r.index, table: 254 });
      report.removed++;
    }
    for (const e of want) {
      const key = e.subnet.toString();
      if (seen.has(key)) continue;
      if (e.direct) {
        this.#nl.routeReplace({ dst: key, gw: e.dst });
      } else {
        this.#nl.routeReplace({
          dst: key,
          gw: e.gw,
          dev,
          onlink: true,
          scope: "universe",
        });
      }
      report.fixed++;
    }
    return report;
  }
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
