// Node IPAM: the controller-manager's range allocator. Every node gets one
// pod CIDR per cluster CIDR (IPv4, IPv6 or both) of the configured mask
// size. Each allocation is a reservation key in the store written in the
// same transaction as the Node (compare: the key is absent), so two nodes
// never share a CIDR, also across restarts and concurrent registrations.

import { CIDR } from "../net/mod.ts";
import type { Compare, Op, Store } from "../store/mod.ts";
import { ApiError } from "./errors.ts";
import type { KubeObject } from "./object.ts";
import type { Registry, TxnExtra } from "./registry.ts";
import { NODES, type ResourceDef, storeKey } from "./resources.ts";

const RESERVATION_PREFIX = "/registry/weft/podcidrs/";

export interface IpamOptions {
  /** `--cluster-cidr`: one CIDR, or one per family (dual-stack). */
  clusterCidrs: string | string[];
  /** `--node-cidr-mask-size-ipv4` (default 24). */
  nodeMaskV4?: number;
  /** `--node-cidr-mask-size-ipv6` (default 64). */
  nodeMaskV6?: number;
  log?: (msg: string) => void;
}

/** No free pod CIDR is left in a cluster CIDR. */
export class IpamExhausted extends Error {
  override name = "IpamExhausted";
  constructor(readonly clusterCidr: string, readonly node: string) {
    super(
      `no remaining pod CIDRs in ${clusterCidr} for node ${
        JSON.stringify(node)
      }: widen --cluster-cidr or delete unused nodes`,
    );
  }
}

interface Pool {
  cidr: CIDR;
  mask: number;
  count: bigint;
}

interface Reservation {
  node: string;
  modRevision: number;
}

function reservationKey(cidr: string): string {
  return RESERVATION_PREFIX + cidr.replace("/", "-");
}

/** The pod CIDRs a node object names (spec.podCIDRs, else spec.podCIDR). */
export function podCidrsOf(node: KubeObject): string[] {
  const list = node.spec?.podCIDRs;
  if (Array.isArray(list) && list.length > 0) {
    return list.filter((c): c is string => typeof c === "string");
  }
  const one = node.spec?.podCIDR;
  return typeof one === "string" && one !== "" ? [one] : [];
}

function invalidCidr(name: string, field: string, msg: string): ApiError {
  return ApiError.invalid("Node", name, field, msg);
}

/**
 * The pod CIDRs a client put in spec.podCIDR / spec.podCIDRs, parsed; 422
 * when the fields are malformed (as Kubernetes validates a Node: strings,
 * podCIDR equal to podCIDRs[0], at most one per IP family).
 */
function requestedCidrs(name: string, obj: KubeObject): CIDR[] {
  const one = obj.spec?.podCIDR;
  const list = obj.spec?.podCIDRs;
  if (one !== undefined && one !== null && typeof one !== "string") {
    throw invalidCidr(name, "spec.podCIDR", "Invalid value: must be a string");
  }
  if (
    list !== undefined && list !== null &&
    (!Array.isArray(list) || !list.every((c) => typeof c === "string"))
  ) {
    throw invalidCidr(
      name,
      "spec.podCIDRs",
      "Invalid value: must be a list of strings",
    );
  }
  const texts = (list as string[] | null | undefined)?.length
    ? list as string[]
    : one
    ? [one]
    : [];
  if (one && texts[0] !== one) {
    throw invalidCidr(
      name,
      "spec.podCIDRs[0]",
      `Invalid value: "${texts[0]}": must match spec.podCIDR "${one}"`,
    );
  }
  const out = texts.map((t, i) => {
    const c = CIDR.tryParse(t);
    if (!c) {
      throw invalidCidr(
        name,
        `spec.podCIDRs[${i}]`,
        `Invalid value: ${JSON.stringify(t)}: must be a CIDR`,
      );
    }
    return c;
  });
  if (out.length > 2 || new Set(out.map((c) => c.family)).size < out.length) {
    throw invalidCidr(
      name,
      "spec.podCIDRs",
      "Invalid value: may specify no more than one CIDR for each IP family",
    );
  }
  return out;
}

/** Whether the CIDRs a client sent name the ones the node has (a lone
 * podCIDR names the first of them). */
function sameCidrs(asked: CIDR[], had: string[]): boolean {
  const h = had.map((t) => CIDR.tryParse(t)?.toString() ?? t);
  const a = asked.map((c) => c.toString());
  if (a.length === 1 && a[0] === h[0]) return true;
  return a.length === h.length && a.every((c, i) => c === h[i]);
}

function parsePools(opts: IpamOptions): Pool[] {
  const list = Array.isArray(opts.clusterCidrs)
    ? opts.clusterCidrs
    : opts.clusterCidrs.split(",");
  const pools: Pool[] = [];
  for (const text of list.map((s) => s.trim()).filter((s) => s)) {
    const parsed = CIDR.tryParse(text);
    if (!parsed) {
      throw new RangeError(`invalid cluster CIDR ${JSON.stringify(text)}`);
    }
    const cidr = parsed.network();
    const mask = cidr.family === 4
      ? (opts.nodeMaskV4 ?? 24)
      : (opts.nodeMaskV6 ?? 64);
    const bits = cidr.family === 4 ? 32 : 128;
    if (!Number.isInteger(mask) || mask < cidr.prefix || mask > bits) {
      throw new RangeError(
        `node CIDR mask size /${mask} does not fit cluster CIDR ${cidr}: use a mask between ${cidr.prefix} and ${bits}`,
      );
    }
    if (pools.some((p) => p.cidr.family === cidr.family)) {
      throw new RangeError(
        `more than one IPv${cidr.family} cluster CIDR in ${
          JSON.stringify(list)
        }: give at most one per family`,
      );
    }
    pools.push({ cidr, mask, count: 1n << BigInt(mask - cidr.prefix) });
  }
  if (pools.length === 0) throw new RangeError("no cluster CIDR given");
  return pools;
}

export class NodeIpam {
  readonly #pools: Pool[];
  readonly #log: (msg: string) => void;

  constructor(readonly store: Store, opts: IpamOptions) {
    this.#pools = parsePools(opts);
    this.#log = opts.log ?? (() => {});
  }

  /** The cluster CIDRs in use (normalized). */
  get clusterCidrs(): string[] {
    return this.#pools.map((p) => p.cidr.toString());
  }

  /** Current reservations: pod CIDR -> node name. */
  async allocations(): Promise<Map<string, string>> {
    const used = await this.#reservations();
    return new Map([...used].map(([c, r]) => [c, r.node]));
  }

  async #reservations(): Promise<Map<string, Reservation>> {
    const { entries } = await this.store.list(RESERVATION_PREFIX);
    const out = new Map<string, Reservation>();
    for (const e of entries) {
      const cidr = e.key.slice(RESERVATION_PREFIX.length).replace("-", "/");
      const node = (JSON.parse(e.value) as { node: string }).node;
      out.set(cidr, { node, modRevision: e.modRevision });
    }
    return out;
  }

  #inPool(cidr: CIDR): Pool | undefined {
    return this.#pools.find((p) =>
      p.cidr.family === cidr.family && p.mask === cidr.prefix &&
      p.cidr.contains(cidr)
    );
  }

  /** Registry hook: assigns pod CIDRs to a node being created or updated. */
  async beforeWrite(
    def: ResourceDef,
    old: KubeObject | null,
    obj: KubeObject,
  ): Promise<TxnExtra> {
    if (def !== NODES) return { compares: [], ops: [] };
    const name = obj.metadata.name!;
    const asked = requestedCidrs(name, obj);
    const had = old ? podCidrsOf(old) : [];
    if (had.length > 0) {
      if (asked.length > 0 && !sameCidrs(asked, had)) {
        throw invalidCidr(
          name,
          "spec.podCIDRs",
          `Forbidden: node updates may not change podCIDR except from "" to valid (has ${
            had.join(",")
          })`,
        );
      }
      this.#setCidrs(obj, had);
      return { compares: [], ops: [] };
    }
    return await this.#assign(name, obj, asked);
  }

  /**
   * Checks a pod CIDR a client asked for: it must be one node subnet of
   * the cluster CIDR of its family (422 otherwise) that no other node holds
   * or overlaps (409). Returns its pool.
   */
  #checkAsked(
    name: string,
    cidr: CIDR,
    used: Map<string, Reservation>,
  ): Pool {
    const pool = this.#pools.find((p) => p.cidr.family === cidr.family);
    if (!pool) {
      throw invalidCidr(
        name,
        "spec.podCIDRs",
        `Invalid value: "${cidr}": this cluster has no IPv${cidr.family} cluster CIDR (${
          this.clusterCidrs.join(",")
        })`,
      );
    }
    if (
      cidr.prefix !== pool.mask || !cidr.equals(cidr.network()) ||
      !pool.cidr.contains(cidr)
    ) {
      throw invalidCidr(
        name,
        "spec.podCIDRs",
        `Invalid value: "${cidr}": must be a /${pool.mask} network inside the cluster CIDR ${pool.cidr}; leave spec.podCIDR empty and the server assigns one`,
      );
    }
    for (const [held, r] of used) {
      const other = CIDR.tryParse(held);
      if (r.node !== name && other && other.overlaps(cidr)) {
        throw new ApiError(
          409,
          "Conflict",
          `Node "${name}": pod CIDR ${cidr} ${
            held === cidr.toString() ? "is" : `overlaps ${held},`
          } allocated to node "${r.node}"; leave spec.podCIDR empty and the server assigns a free one`,
          { name, kind: "nodes" },
        );
      }
    }
    return pool;
  }

  async #assign(
    name: string,
    obj: KubeObject,
    asked: CIDR[],
  ): Promise<TxnExtra> {
    const used = await this.#reservations();
    const wanted = new Map<Pool, CIDR>();
    for (const c of asked) wanted.set(this.#checkAsked(name, c, used), c);
    const chosen: string[] = [];
    const compares: Compare[] = [];
    const ops: Op[] = [];
    for (const pool of this.#pools) {
      const pick = wanted.get(pool)?.toString() ??
        this.#firstFree(pool, used);
      if (pick === null) {
        const err = new IpamExhausted(pool.cidr.toString(), name);
        this.#log(
          `CIDRNotAvailable: ${err.message}; node left without a pod CIDR`,
        );
        this.#setCidrs(obj, []);
        return { compares: [], ops: [] };
      }
      const key = reservationKey(pick);
      compares.push({ key, modRevision: used.get(pick)?.modRevision ?? 0 });
      ops.push({ type: "put", key, value: JSON.stringify({ node: name }) });
      chosen.push(pick);
    }
    this.#setCidrs(obj, chosen);
    if (ops.length > 0) {
      this.#log(`node ${name}: pod CIDRs ${chosen.join(",")}`);
    }
    return { compares, ops };
  }

  #setCidrs(obj: KubeObject, cidrs: string[]): void {
    const spec = { ...obj.spec };
    if (cidrs.length === 0) {
      delete spec.podCIDR;
      delete spec.podCIDRs;
    } else {
      spec.podCIDR = cidrs[0];
      spec.podCIDRs = cidrs;
    }
    obj.spec = spec;
  }

  #firstFree(pool: Pool, used: Map<string, Reservation>): string | null {
    // Among the first used.size + 1 subnets at least one is free.
    const limit = BigInt(used.size) + 1n;
    for (let i = 0n; i < pool.count && i <= limit; i++) {
      const c = pool.cidr.subnet(pool.mask, i).toString();
      if (!used.has(c)) return c;
    }
    return null;
  }

  /** Registry hook: releases a deleted node's reservations. */
  async beforeDelete(def: ResourceDef, old: KubeObject): Promise<TxnExtra> {
    if (def !== NODES) return { compares: [], ops: [] };
    const used = await this.#reservations();
    const compares: Compare[] = [];
    const ops: Op[] = [];
    for (const c of podCidrsOf(old)) {
      const r = used.get(c);
      if (!r || r.node !== old.metadata.name) continue;
      compares.push({ key: reservationKey(c), modRevision: r.modRevision });
      ops.push({ type: "delete", key: reservationKey(c) });
    }
    if (ops.length) {
      this.#log(`node ${old.metadata.name}: released pod CIDRs`);
    }
    return { compares, ops };
  }

  /**
   * At start: gives nodes without a pod CIDR one, records reservations for
   * managed CIDRs that lack one, and drops reservations of gone nodes.
   */
  async reconcile(registry: Registry): Promise<void> {
    const { items } = await registry.list(NODES, undefined);
    const used = await this.#reservations();
    const names = new Set(items.map((n) => n.metadata.name!));
    for (const [cidr, r] of used) {
      const node = items.find((n) => n.metadata.name === r.node);
      if (names.has(r.node) && node && podCidrsOf(node).includes(cidr)) {
        continue;
      }
      const key = reservationKey(cidr);
      // Also compare the node as listed: another server may have created or
      // changed it since (its reservation is then not stale).
      const nodeRev = Number(node?.metadata.resourceVersion ?? 0);
      const released = await this.store.txn([
        { key, modRevision: r.modRevision },
        { key: storeKey(NODES, undefined, r.node), modRevision: nodeRev },
      ], [{ type: "delete", key }]);
      if (!released.succeeded) continue;
      this.#log(`released stale pod CIDR reservation ${cidr} of ${r.node}`);
    }
    for (const node of items) {
      const name = node.metadata.name!;
      const cidrs = podCidrsOf(node);
      if (cidrs.length === 0) {
        try {
          await registry.update(NODES, undefined, name, (o) => {
            delete o.metadata.resourceVersion;
            return o;
          });
        } catch (e) {
          this.#log(
            `could not assign a pod CIDR to node ${name}: ${
              (e as Error).message
            }`,
          );
        }
        continue;
      }
      for (const c of cidrs) {
        const parsed = CIDR.tryParse(c);
        if (!parsed || !this.#inPool(parsed)) {
          this.#log(
            `node ${name} has pod CIDR ${c}, which is not a node subnet of the cluster CIDR (${
              this.clusterCidrs.join(",")
            }); it was stored before such CIDRs were refused: delete the node so it registers again`,
          );
          continue;
        }
        if (used.get(c)?.node === name) continue;
        const key = reservationKey(c);
        const r = await this.store.txn([{ key, modRevision: 0 }], [
          { type: "put", key, value: JSON.stringify({ node: name }) },
        ]);
        if (!r.succeeded) {
          this.#log(`node ${name} has pod CIDR ${c} that another node holds`);
        }
      }
    }
  }
}

export function createNodeIpam(store: Store, opts: IpamOptions): NodeIpam {
  return new NodeIpam(store, opts);
}
