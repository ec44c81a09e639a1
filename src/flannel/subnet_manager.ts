// The kube subnet manager: our lease from our Node's podCIDR(s), our
// annotations (patched only when different), and remote leases from a watch
// of all nodes turned into added/removed events.

import { type CIDR, IP } from "../net/mod.ts";
import { FlannelError } from "./errors.ts";
import {
  type AnnotationKeys,
  type KubeNode,
  type Lease,
  leaseFromNode,
  leaseKey,
  podCIDRs,
} from "./lease.ts";
import type { NetConf } from "./netconf.ts";
import type { NodeSource } from "./node_source.ts";
import { sleep } from "../util/async.ts";

export type LeaseEvent =
  | { type: "added"; lease: Lease }
  | { type: "removed"; lease: Lease }
  | { type: "synced"; leases: Lease[] };

export interface OwnLeaseInput {
  backendType: string;
  backendData: unknown;
  /** backend-v6-data; the IPv4 data is reused when absent. */
  backendV6Data?: unknown;
  publicIP: IP | null;
  publicIPv6: IP | null;
  overwrite: IP | null;
  overwrite6: IP | null;
}

export class KubeSubnetManager {
  #src: NodeSource;
  #node: string;
  #keys: AnnotationKeys;
  #conf: NetConf;
  #log: (msg: string) => void;
  #onReject: (msg: string) => void;
  #leases = new Map<string, Lease>();
  #skipped = new Map<string, string>();
  #own: { v4: CIDR | null; v6: CIDR | null } = { v4: null, v6: null };

  constructor(opts: {
    source: NodeSource;
    nodeName: string;
    keys: AnnotationKeys;
    conf: NetConf;
    log: (msg: string) => void;
    /** A remote lease the guard refuses (once per distinct reason). */
    onReject?: (msg: string) => void;
  }) {
    this.#src = opts.source;
    this.#node = opts.nodeName;
    this.#keys = opts.keys;
    this.#conf = opts.conf;
    this.#log = opts.log;
    this.#onReject = opts.onReject ?? (() => {});
  }

  get families(): { v4: boolean; v6: boolean } {
    return { v4: this.#conf.enableIPv4, v6: this.#conf.enableIPv6 };
  }

  /**
   * Waits (polling, no timeout: K3s waits until the controller assigns one)
   * for our Node to have its podCIDR(s); checks them against the network.
   */
  async ownSubnets(
    signal: AbortSignal,
    pollMs = 1000,
  ): Promise<{ node: KubeNode; v4: CIDR | null; v6: CIDR | null }> {
    let said = "";
    while (!signal.aborted) {
      const node = await this.#src.getNode(this.#node, signal);
      const cidrs = node ? podCIDRs(node) : null;
      if (node && cidrs) {
        const { v4, v6 } = cidrs;
        const c = this.#conf;
        if (c.enableIPv4 && !v4) {
          throw new FlannelError(
            `node ${this.#node} has no IPv4 podCIDR but net-conf enables IPv4`,
          );
        }
        if (c.enableIPv6 && !v6) {
          throw new FlannelError(
            `node ${this.#node} has no IPv6 podCIDR but net-conf enables IPv6`,
          );
        }
        if (c.enableIPv4 && c.network && !c.network.contains(v4!)) {
          throw new FlannelError(
            `node ${this.#node} podCIDR ${v4} is outside the flannel network ${c.network}`,
          );
        }
        if (c.enableIPv6 && c.ipv6Network && !c.ipv6Network.contains(v6!)) {
          throw new FlannelError(
            `node ${this.#node} podCIDR ${v6} is outside the flannel IPv6 network ${c.ipv6Network}`,
          );
        }
        this.#own = {
          v4: c.enableIPv4 ? v4 : null,
          v6: c.enableIPv6 ? v6 : null,
        };
        return { node, ...this.#own };
      }
      const why = node
        ? `waiting for node ${this.#node} to be assigned a podCIDR`
        : `waiting for node ${this.#node} to be registered`;
      if (why !== said) this.#log(why);
      said = why;
      await sleep(pollMs, signal);
    }
    throw new FlannelError("stopped while waiting for the podCIDR");
  }

  /** The annotations we publish for our lease. */
  ownAnnotations(input: OwnLeaseInput): Record<string, string> {
    const k = this.#keys;
    const a: Record<string, string> = {
      [k.subnetKubeManaged]: "true",
      [k.backendType]: input.backendType,
    };
    const data = JSON.stringify(input.backendData ?? null);
    if (this.#conf.enableIPv4) {
      a[k.backendData] = data;
      const ip = input.overwrite ?? input.publicIP;
      if (ip) a[k.publicIP] = ip.toString();
      if (input.overwrite) a[k.publicIPOverwrite] = input.overwrite.toString();
    }
    if (this.#conf.enableIPv6) {
      a[k.backendV6Data] = input.backendV6Data === undefined
        ? data
        : JSON.stringify(input.backendV6Data ?? null);
      const ip = input.overwrite6 ?? input.publicIPv6;
      if (ip) a[k.publicIPv6] = ip.toString();
      if (input.overwrite6) {
        a[k.publicIPv6Overwrite] = input.overwrite6.toString();
      }
    }
    return a;
  }

  /** Patches our annotations when any differs; returns true when it patched. */
  async publish(node: KubeNode, input: OwnLeaseInput): Promise<boolean> {
    const have = node.metadata.annotations ?? {};
    const k = this.#keys;
    const ann = (key: string, fam: 4 | 6) => {
      const ip = have[key] ? IP.tryParse(have[key]) : null;
      return ip && ip.family === fam ? ip : null;
    };
    // An operator's node-public-ip replaces the detected address, and a
    // public-ip-overwrite set by hand is kept (flannel reads both at start).
    const want = this.ownAnnotations({
      ...input,
      publicIP: ann(k.nodePublicIP, 4) ?? input.publicIP,
      publicIPv6: ann(k.nodePublicIPv6, 6) ?? input.publicIPv6,
      overwrite: input.overwrite ?? ann(k.publicIPOverwrite, 4),
      overwrite6: input.overwrite6 ?? ann(k.publicIPv6Overwrite, 6),
    });
    const diff: Record<string, string> = {};
    for (const [key, v] of Object.entries(want)) {
      if (have[key] !== v) diff[key] = v;
    }
    if (Object.keys(diff).length === 0) return false;
    await this.#src.patchAnnotations(this.#node, diff);
    return true;
  }

  /**
   * Reads our Node again and restores our annotations when they were
   * removed or changed (by hand, or by another writer): other nodes route
   * to us from them. False when nothing had to be written or the Node is
   * gone. Errors (a rejected credential included) are the caller's.
   */
  async republish(input: OwnLeaseInput): Promise<boolean> {
    const node = await this.#src.getNode(this.#node);
    if (!node) {
      this.#log(`node ${this.#node} is not registered; lease not published`);
      return false;
    }
    return await this.publish(node, input);
  }

  /** NetworkUnavailable=False, reason FlannelIsUp. */
  async markNetworkUp(): Promise<void> {
    await this.#src.setCondition(this.#node, {
      type: "NetworkUnavailable",
      status: "False",
      reason: "FlannelIsUp",
      message: "Flannel is running on this node",
    });
  }

  /** Remote leases currently known. */
  leases(): Lease[] {
    return [...this.#leases.values()];
  }

  #isOwn(l: Lease): boolean {
    return l.node === this.#node ||
      (!!l.subnet && !!this.#own.v4 && l.subnet.equals(this.#own.v4)) ||
      (!!l.ipv6Subnet && !!this.#own.v6 && l.ipv6Subnet.equals(this.#own.v6));
  }

  /**
   * Why a remote lease cannot be a node's pod subnet, or null: each subnet
   * must lie inside the flannel network and have the node mask (that of our
   * own podCIDR, which the same server assigned; SubnetLen before we have
   * one). A rogue Node's podCIDR (the underlay subnet, a /25 inside another
   * node's /24, 0.0.0.0/0) is ignored rather than routed.
   */
  #misfit(l: Lease): string | null {
    const c = this.#conf;
    const check = (
      subnet: CIDR | null,
      network: CIDR | null,
      mask: number,
    ): string | null => {
      if (!subnet) return null;
      if (!network || !network.contains(subnet)) {
        return `lease of node ${l.node}: podCIDR ${subnet} is outside the flannel network ${network}; ignoring it`;
      }
      if (subnet.prefix !== mask) {
        return `lease of node ${l.node}: podCIDR ${subnet} does not have the node mask /${mask}; ignoring it`;
      }
      return null;
    };
    return check(l.subnet, c.network, this.#own.v4?.prefix ?? c.subnetLen) ??
      check(
        l.ipv6Subnet,
        c.ipv6Network,
        this.#own.v6?.prefix ?? c.ipv6SubnetLen,
      );
  }

  /** Folds one node into the lease map; returns the events it causes. */
  nodeChanged(node: KubeNode, deleted = false): LeaseEvent[] {
    const name = node.metadata.name;
    const prev = this.#leases.get(name);
    const events: LeaseEvent[] = [];
    if (deleted) {
      this.#skipped.delete(name);
      if (prev) {
        this.#leases.delete(name);
        events.push({ type: "removed", lease: prev });
      }
      return events;
    }
    if (name === this.#node) return events;
    const found = leaseFromNode(node, this.#keys, this.families);
    const bad = "lease" in found ? this.#misfit(found.lease) : null;
    const r = bad === null ? found : { skip: bad };
    if ("skip" in r) {
      if (this.#skipped.get(name) !== r.skip) {
        this.#log(`skipping ${r.skip}`);
        if (bad !== null) this.#onReject(bad);
      }
      this.#skipped.set(name, r.skip);
      if (prev) {
        this.#leases.delete(name);
        events.push({ type: "removed", lease: prev });
      }
      return events;
    }
    this.#skipped.delete(name);
    if (this.#isOwn(r.lease)) return events;
    if (prev && leaseKey(prev) === leaseKey(r.lease)) return events;
    if (prev) events.push({ type: "removed", lease: prev });
    this.#leases.set(name, r.lease);
    events.push({ type: "added", lease: r.lease });
    return events;
  }

  /** Watches all nodes; delivers lease events in order. */
  watch(
    onEvent: (ev: LeaseEvent) => void | Promise<void>,
    signal: AbortSignal,
  ): { done: Promise<void> } {
    // Events are delivered one at a time, in arrival order, whatever the
    // source does with the promises its handlers return.
    let queue = Promise.resolve();
    const emit = (evs: () => LeaseEvent[]) => {
      queue = queue.then(async () => {
        for (const ev of evs()) await onEvent(ev);
      }).catch((e) => this.#log(`lease event: ${(e as Error).message ?? e}`));
      return queue;
    };
    return this.#src.watchNodes(
      {
        added: (n) => emit(() => this.nodeChanged(n)),
        updated: (n) => emit(() => this.nodeChanged(n)),
        deleted: (n) => emit(() => this.nodeChanged(n, true)),
        synced: () => emit(() => [{ type: "synced", leases: this.leases() }]),
      },
      signal,
      (e) => this.#log(`node watch: ${(e as Error).message ?? e}`),
    );
  }
}
