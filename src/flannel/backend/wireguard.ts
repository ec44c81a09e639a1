// The wireguard backend (K3s --flannel-backend wireguard-native), one per
// address family: device flannel-wg (IPv4) or flannel-wg-v6 (IPv6, in the
// default "separate" mode), MTU = MTU - 80, the node's key in
// <runDir>/wgkey, backend-data {"PublicKey","Port"}, address <subnet IP>/32
// (/128), a scope-link route for the whole cluster network on the device,
// and one peer per remote lease (endpoint publicIP:port, AllowedIPs its
// subnet, PSK and keepalive from net-conf).
//
// The device is wireguard-go's TUN, configured over the UAPI socket: weft's
// ffi resolves the kernel's "wireguard" generic netlink family but has no
// WireGuard genl messages, so a kernel device could be created but not
// keyed; wireguard-go is used whether or not the kernel has the module.
// A restart of the task reuses a live daemon (same device, peers kept and
// reconciled); a device that is not a live wireguard-go (a kernel
// wireguard link, a dead daemon's leftover) is deleted and recreated.

import type { NetEvent } from "../../../ffi/mod.ts";
import { CIDR, type IP } from "../../net/mod.ts";
import { type Dataplane, type DpLink, errCode } from "../dataplane.ts";
import { FlannelError, NetConfError } from "../errors.ts";
import type { Lease } from "../lease.ts";
import {
  defaultMetric,
  isConnected,
  WEFT_ROUTE_PROTO,
} from "../route_guard.ts";
import { ensureOverlayAddr } from "./overlay_addr.ts";
import { leaseSide, peerSide } from "./side.ts";
import type { Backend, BackendDeps, ReconcileReport } from "./types.ts";
import {
  daemonAlive,
  daemonPaths,
  daemonPid,
  startDaemon,
  stopDaemon,
} from "./wg_daemon.ts";
import { keyHex, loadOrCreateKeys, type WgKeys } from "./wg_key.ts";
import { uapiGet, uapiSet, type WgPeer } from "./wg_uapi.ts";

/** IPv4/IPv6 header + UDP + WireGuard header and tag, as flannel counts. */
const OVERHEAD = 80;

/** backend-data as flannel's wireguard backend reads it (Port: weft's). */
export interface WireguardBackendData {
  PublicKey: string;
  Port?: number;
}

/** Reads wireguard backend-data (keys case-insensitive); null when malformed. */
export function wireguardData(value: unknown): WireguardBackendData | null {
  if (typeof value !== "object" || value === null) return null;
  let key: unknown, port: unknown;
  for (const [k, v] of Object.entries(value)) {
    if (k.toLowerCase() === "publickey") key = v;
    if (k.toLowerCase() === "port") port = v;
  }
  if (typeof key !== "string") return null;
  try {
    keyHex(key);
  } catch {
    return null;
  }
  if (
    port !== undefined &&
    (typeof port !== "number" || !Number.isInteger(port) || port < 1 ||
      port > 65535)
  ) {
    return null;
  }
  return port === undefined
    ? { PublicKey: key }
    : { PublicKey: key, Port: port };
}

/** One remote lease as a WireGuard peer. */
interface Peer {
  node: string;
  key: string; // hex
  endpoint: string;
  allowed: string[];
}

export class WireguardBackend implements Backend {
  readonly type = "wireguard";
  readonly device: string;
  readonly mtu: number;
  readonly family: 4 | 6;
  readonly port: number;
  #nl: Dataplane;
  #deps: BackendDeps;
  #keys: WgKeys | null = null;
  #psk: string | null;
  #subnet: CIDR | null = null;
  #index = 0;
  #dir: string;

  constructor(deps: BackendDeps, family: 4 | 6 = 4) {
    this.#deps = deps;
    this.#nl = deps.nl;
    this.family = family;
    const c = deps.conf;
    const b = c.backend;
    const separate = b.mode === "separate";
    if (!separate) {
      // One device for both families (flannel's auto/ipv4/ipv6 modes) is
      // the same as "separate" when a single family is enabled and the
      // endpoints are of that family; weft supports exactly that case.
      const want = b.mode === "ipv4" ? 4 : b.mode === "ipv6" ? 6 : family;
      if (c.enableIPv4 && c.enableIPv6) {
        throw new NetConfError(
          "Backend.Mode",
          `mode "${b.mode}" (one device for IPv4 and IPv6) is not supported by weft in a dual-stack network; use "separate"`,
        );
      }
      if (want !== family) {
        throw new NetConfError(
          "Backend.Mode",
          `mode "${b.mode}" needs IPv${want} endpoints but the network is IPv${family}-only; use "separate"`,
        );
      }
    }
    this.device = family === 6 && separate ? "flannel-wg-v6" : "flannel-wg";
    this.port = family === 6 && separate ? b.listenPortV6 : b.listenPort;
    this.mtu = (b.mtu || deps.ext.mtu) - OVERHEAD;
    this.#psk = b.psk ? keyHexOrConfError(b.psk) : null;
    const runDir = deps.runDir ?? "/run/flannel";
    this.#runDir = runDir;
    this.#dir = `${runDir}/wireguard`;
  }

  #runDir: string;

  get #network(): CIDR | null {
    const c = this.#deps.conf;
    return this.family === 4 ? c.network : c.ipv6Network;
  }

  /** Where the node's private key is kept. */
  get keyFile(): string {
    return `${this.#runDir}/wgkey`;
  }

  /** The UAPI socket of the device. */
  get socket(): string {
    return daemonPaths(this.#dir, this.device).socket;
  }

  /** The wireguard-go serving the device, or null. */
  pid(): Promise<number | null> {
    return daemonPid(daemonPaths(this.#dir, this.device));
  }

  backendData(): WireguardBackendData {
    if (!this.#keys) {
      throw new FlannelError(
        "wireguard backend-data asked before configure() loaded the key",
      );
    }
    return { PublicKey: this.#keys.publicKey, Port: this.port };
  }

  backendV6Data(): WireguardBackendData | null {
    return this.family === 6 ? this.backendData() : null;
  }

  /** Why an existing device cannot be reused, or null when it can. */
  async #incompatible(l: DpLink): Promise<string | null> {
    if (l.kind !== "tun") return `type ${l.kind ?? "(none)"}`;
    if (!(await daemonAlive(this.socket))) {
      return `no ${this.device} wireguard-go answering on ${this.socket}`;
    }
    return null;
  }

  async #ensureLink(): Promise<{ link: DpLink; created: boolean }> {
    const paths = daemonPaths(this.#dir, this.device);
    const existing = this.#nl.linkGet(this.device);
    if (existing) {
      const why = await this.#incompatible(existing);
      if (!why) return { link: existing, created: false };
      this.#deps.log(
        `${this.device} exists with incompatible ${why}; recreating it`,
      );
      await stopDaemon(paths);
      try {
        this.#nl.linkDel(existing.index);
      } catch (e) {
        if (errCode(e) !== "ENODEV") throw e;
      }
    } else {
      // A daemon whose device was deleted under it: stop it before a new one.
      await stopDaemon(paths);
    }
    if (this.#deps.kernelWireguard?.()) {
      this.#deps.log(
        `the kernel has WireGuard, but weft configures WireGuard only through wireguard-go's UAPI; using wireguard-go for ${this.device}`,
      );
    }
    const pid = await startDaemon({
      dev: this.device,
      dir: this.#dir,
      netns: this.#deps.netns,
    });
    const link = this.#nl.linkGet(this.device);
    if (!link) {
      throw new FlannelError(
        `wireguard-go (pid ${pid}) answers but ${this.device} does not exist in the dataplane's namespace`,
      );
    }
    this.#deps.log(`created ${this.device} (wireguard-go pid ${pid})`);
    return { link, created: true };
  }

  /** Creates or reuses the device and configures it; true when created. */
  async #ensureDevice(): Promise<
    { created: boolean; fixed: number; removed: number }
  > {
    const keys = this.#keys;
    if (!keys) throw new FlannelError("wireguard backend not configured");
    const { link, created } = await this.#ensureLink();
    this.#index = link.index;
    let fixed = 0;
    const state = await uapiGet(this.socket);
    const priv = keyHex(keys.privateKey);
    const set: string[] = [];
    if (state.privateKey !== priv) set.push(`private_key=${priv}`);
    if (state.listenPort !== this.port) set.push(`listen_port=${this.port}`);
    if (set.length) {
      await uapiSet(this.socket, set);
      if (!created) fixed += set.length;
    }
    if (link.mtu !== this.mtu) {
      this.#nl.linkSet(link.index, { mtu: this.mtu });
    }
    if (
      this.#subnet &&
      ensureOverlayAddr(
        this.#nl,
        link.index,
        this.family,
        this.#subnet,
        this.#network,
      ) && !created
    ) {
      fixed++;
    }
    if (!link.up || created) this.#nl.linkSet(link.index, { up: true });
    const removed = this.#ensureRoutes(link.index, created);
    return { created, fixed: fixed + removed.fixed, removed: removed.removed };
  }

  /**
   * The one route on the device: the whole network, scope link. Any other
   * route on the device (not the kernel's) is removed: the device is
   * weft's.
   */
  #ensureRoutes(
    index: number,
    created: boolean,
  ): { fixed: number; removed: number } {
    const out = { fixed: 0, removed: 0 };
    const network = this.#network;
    const dst = network?.toString();
    let have = false;
    for (const r of this.#nl.routeList({ family: this.family, table: 254 })) {
      if (r.index !== index || this.#kernelRoute(r)) continue;
      if (this.#isNetworkRoute(r) && !have) {
        have = true;
        continue;
      }
      this.#nl.routeDel({
        dst: r.dst,
        gw: r.gw,
        dev: index,
        table: 254,
        metric: r.metric,
        protocol: r.protocol,
      });
      out.removed++;
    }
    if (dst && !have) {
      this.#nl.routeReplace({
        dst,
        dev: index,
        scope: "link",
        protocol: WEFT_ROUTE_PROTO,
      });
      if (!created) out.fixed++;
    }
    return out;
  }

  #kernelRoute(r: { dst: string; protocol?: number; type: string }): boolean {
    return isConnected(r) || r.type !== "unicast" ||
      r.dst.toLowerCase().startsWith("fe80:");
  }

  #isNetworkRoute(
    r: {
      dst: string;
      gw?: string;
      type: string;
      metric?: number;
      family?: 4 | 6;
    },
  ): boolean {
    return r.dst === this.#network?.toString() && !r.gw &&
      r.type === "unicast" && defaultMetric(r);
  }

  /** Why a change on the device disagrees with what weft keeps there. */
  drift(ev: NetEvent): string | null {
    switch (ev.kind) {
      case "overflow":
        return "netlink notifications were dropped";
      case "link": {
        const l = ev.link;
        if (l.index !== this.#index) return null;
        if (ev.type === "del") return `${this.device} was deleted`;
        if (l.name !== this.device) return `${this.device} was renamed`;
        return l.up ? null : `${this.device} was set down`;
      }
      case "route": {
        const r = ev.route;
        if (
          r.index !== this.#index || r.family !== this.family ||
          (r.table ?? 254) !== 254 || this.#kernelRoute(r)
        ) {
          return null;
        }
        const mine = this.#isNetworkRoute(r);
        if (ev.type === "del") {
          return mine ? `route ${r.dst} on ${this.device} was deleted` : null;
        }
        return mine ? null : `route ${r.dst} on ${this.device} is not weft's`;
      }
      default:
        return null;
    }
  }

  async configure(
    own: { subnet: CIDR | null; ipv6Subnet?: CIDR | null },
  ): Promise<void> {
    this.#subnet = this.family === 4 ? own.subnet : own.ipv6Subnet ?? null;
    this.#keys ??= await loadOrCreateKeys(this.keyFile);
    await this.#ensureDevice();
  }

  /** A lease's peer, or null (with the reason) when it cannot be used. */
  #peer(l: Lease): Peer | string {
    const side = peerSide(l, this.family, "wireguard", wireguardData);
    if (typeof side === "string") return side;
    const d = side.data;
    return {
      node: l.node,
      key: keyHex(d.PublicKey),
      // flannel nodes publish no Port: they listen where we do.
      endpoint: endpointOf(side.publicIP, d.Port ?? this.port),
      allowed: [side.subnet.network().toString()],
    };
  }

  #peerLines(p: Peer): string[] {
    const keepalive = this.#deps.conf.backend.persistentKeepaliveInterval;
    return [
      `public_key=${p.key}`,
      ...(this.#psk ? [`preshared_key=${this.#psk}`] : []),
      `endpoint=${p.endpoint}`,
      `persistent_keepalive_interval=${keepalive}`,
      "replace_allowed_ips=true",
      ...p.allowed.map((a) => `allowed_ip=${a}`),
    ];
  }

  async addLease(l: Lease): Promise<void> {
    const p = this.#peer(l);
    if (typeof p === "string") {
      this.#deps.log(`skipping lease: ${p}`);
      return;
    }
    await uapiSet(this.socket, this.#peerLines(p));
  }

  async removeLease(l: Lease): Promise<void> {
    const side = leaseSide(l, this.family);
    const d = wireguardData(side.data);
    if (!d) return;
    try {
      await uapiSet(this.socket, [
        `public_key=${keyHex(d.PublicKey)}`,
        "remove=true",
      ]);
    } catch (e) {
      this.#deps.log(`removing peer of ${l.node}: ${(e as Error).message}`);
    }
  }

  #matches(have: WgPeer, want: Peer): boolean {
    const keepalive = this.#deps.conf.backend.persistentKeepaliveInterval;
    return have.endpoint === want.endpoint &&
      have.keepalive === keepalive &&
      (have.presharedKey ?? null) === this.#psk &&
      sameSet(have.allowedIPs, want.allowed);
  }

  async reconcile(leases: Lease[]): Promise<ReconcileReport> {
    const { created, fixed, removed } = await this.#ensureDevice();
    const report: ReconcileReport = { recreated: created, fixed, removed };
    const want = new Map<string, Peer>();
    for (const l of leases) {
      const p = this.#peer(l);
      if (typeof p !== "string") want.set(p.key, p);
    }
    const state = await uapiGet(this.socket);
    const lines: string[] = [];
    for (const have of state.peers) {
      const w = want.get(have.publicKey);
      if (!w) {
        lines.push(`public_key=${have.publicKey}`, "remove=true");
        report.removed++;
      } else if (this.#matches(have, w)) {
        want.delete(have.publicKey);
      }
    }
    for (const p of want.values()) {
      lines.push(...this.#peerLines(p));
      report.fixed++;
    }
    if (lines.length) await uapiSet(this.socket, lines);
    return report;
  }
}

function endpointOf(ip: IP, port: number): string {
  return ip.family === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function sameSet(a: string[], b: string[]): boolean {
  const x = new Set(a.map((s) => CIDR.parse(s).network().toString()));
  const y = new Set(b);
  return x.size === y.size && [...x].every((s) => y.has(s));
}

function keyHexOrConfError(psk: string): string {
  try {
    return keyHex(psk, "PSK");
  } catch (e) {
    throw new NetConfError("Backend.PSK", (e as Error).message);
  }
}
