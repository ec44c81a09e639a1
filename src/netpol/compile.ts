// The pure compiler: policies, pods and namespaces -> the nftables state
// that enforces them for the pods of one node.
//
// Per policy selecting a local pod: a chain pi-<h> (ingress) and/or pe-<h>
// (egress) whose rules accept what one of its rules allows, reading named
// sets: the addresses of each distinct selector peer (sel-<peer>-4, shared
// by all policies with that peer), a rule's ipBlock ranges (s-<h>-i<r>-b4)
// and its named-port tuples (s-<h>-i<r>-n4). Per distinct list of policies: a
// group chain (gi-/ge-<hash>) that jumps to each policy chain and drops.
// Pods reach their group through the verdict maps ingress4/6 and
// egress4/6 keyed by pod address; a pod no policy selects is in no map and
// so is allowed everything.
//
// With a CompileCache kept between calls, only the policies a change can
// touch (a pod their selectors pick before or after it, a namespace their
// namespace selectors pick, the policy itself) are compiled again; the
// others' chains and sets are reused as they are (same objects, which
// diffOps skips by identity), so a change costs what it touches.

import {
  changesSince,
  CompileCache,
  type Fragment,
  newFragment,
  type Pod,
  podKey,
  touches,
  withAddrs,
} from "./cache.ts";
import { peerId, shortHash } from "./names.ts";
import { cidrMinus, type Range, rangeElement, unionRanges } from "./ranges.ts";
import { selectorMatches } from "./selector.ts";
import { emptyState, type NetpolState } from "./state.ts";
import { CIDR } from "../net/mod.ts";
import {
  type LabelSelector,
  NAMESPACE_NAME_LABEL,
  type NamespaceView,
  type NetworkPolicy,
  type NetworkPolicyPeer,
  type NetworkPolicyPort,
  type PodView,
  policyTypesOf,
} from "./types.ts";

export { CompileCache };

export interface CompileInput {
  nodeName: string;
  /** The node's own addresses and its cni0 gateway(s): always allowed in. */
  nodeIPs: string[];
  /** Valid policies (see validateNetworkPolicy). */
  policies: NetworkPolicy[];
  pods: PodView[];
  namespaces: NamespaceView[];
}

type Fam = 4 | 6;
const FAMS: Fam[] = [4, 6];
const KW = { 4: "ip", 6: "ip6" } as const;
const ADDR = { 4: "ipv4_addr", 6: "ipv6_addr" } as const;

class Compiler {
  readonly out: NetpolState = emptyState();
  readonly pods: Pod[];
  readonly local: Pod[];
  readonly nsLabels = new Map<string, Record<string, string>>();
  frag: Fragment = newFragment();

  constructor(readonly input: CompileInput, readonly cache: CompileCache) {
    this.pods = [];
    // One view per namespace/name (the last wins), as the cache keys them.
    const unique = new Map(input.pods.map((v) => [podKey(v), v]));
    for (const v of unique.values()) {
      let p = cache.addrs.get(v);
      if (!p) cache.addrs.set(v, p = withAddrs(v));
      if (p.addrs[4].length + p.addrs[6].length > 0) this.pods.push(p);
    }
    this.local = this.pods.filter((p) => p.nodeName === input.nodeName);
    for (const ns of input.namespaces) this.nsLabels.set(ns.name, ns.labels);
  }

  labelsOfNamespace(name: string): Record<string, string> {
    return this.nsLabels.get(name) ?? { [NAMESPACE_NAME_LABEL]: name };
  }

  set(name: string, type: string, interval: boolean, elements: string[]) {
    this.frag.sets.set(name, { type, interval, elements: new Set(elements) });
    return name;
  }

  /** The pods one selector peer picks (computed once per peer). */
  peerPods(policyNs: string, p: NetworkPolicyPeer): Pod[] {
    const hit = this.#peerCache.get(p);
    if (hit) return hit;
    const found = this.pods.filter((pod) => {
      if (p.namespaceSelector) {
        if (!this.namespaceMatches(p.namespaceSelector, pod.namespace)) {
          return false;
        }
      } else if (pod.namespace !== policyNs) return false;
      return !p.podSelector || selectorMatches(p.podSelector, pod.labels);
    });
    this.#peerCache.set(p, found);
    return found;
  }

  readonly #peerCache = new WeakMap<NetworkPolicyPeer, Pod[]>();
  readonly #nsCache = new WeakMap<LabelSelector, Map<string, boolean>>();

  namespaceMatches(sel: LabelSelector, ns: string): boolean {
    let byNs = this.#nsCache.get(sel);
    if (!byNs) this.#nsCache.set(sel, byNs = new Map());
    let hit = byNs.get(ns);
    if (hit === undefined) {
      hit = selectorMatches(sel, this.labelsOfNamespace(ns));
      byNs.set(ns, hit);
    }
    return hit;
  }

  /** The accept rules of one ingress or egress rule, for one family. */
  ruleLines(
    base: string,
    fam: Fam,
    ingress: boolean,
    policyNs: string,
    peers: NetworkPolicyPeer[],
    ports: NetworkPolicyPort[],
    selected: Pod[],
  ): string[] {
    const kw = KW[fam];
    const field = ingress ? "saddr" : "daddr";
    const peerMatches: string[] = [];
    if (peers.length === 0) peerMatches.push("");
    else {
      // One set per distinct selector peer, shared by every policy that
      // has the same peer: a pod change touches each such set once.
      for (const p of peers) {
        if (!p.podSelector && !p.namespaceSelector) continue;
        const name = `sel-${peerId(p, policyNs)}-${fam}`;
        if (!this.frag.sets.has(name)) {
          const ips = this.peerPods(policyNs, p).flatMap((x) => x.addrs[fam]);
          this.set(name, ADDR[fam], false, ips);
        }
        peerMatches.push(`${kw} ${field} @${name}`);
      }
      const ranges: Range[] = peers.flatMap((p) => {
        const c = p.ipBlock ? CIDR.tryParse(p.ipBlock.cidr) : null;
        if (!c || c.family !== fam) return [];
        const ex = (p.ipBlock!.except ?? []).map((e) => CIDR.tryParse(e))
          .filter((e): e is CIDR => e !== null);
        return cidrMinus(c, ex);
      });
      if (ranges.length > 0) {
        const els = unionRanges(ranges).map(rangeElement);
        const s = this.set(`${base}-b${fam}`, ADDR[fam], true, els);
        peerMatches.push(`${kw} ${field} @${s}`);
      }
      if (peerMatches.length === 0) return [];
    }
    const portMatches = new Set<string>();
    if (ports.length === 0) portMatches.add("");
    const named: string[] = [];
    for (const p of ports) {
      const proto = (p.protocol ?? "TCP").toLowerCase();
      if (typeof p.port === "string") {
        const targets = ingress ? selected : this.pods;
        for (const pod of targets) {
          for (const np of pod.ports) {
            if (np.name !== p.port || np.protocol.toLowerCase() !== proto) {
              continue;
            }
            for (const a of pod.addrs[fam]) {
              named.push(`${a} . ${proto} . ${np.port}`);
            }
          }
        }
        continue;
      }
      let m = `meta l4proto ${proto}`;
      if (typeof p.port === "number") {
        m += ` th dport ${p.port}`;
        if (p.endPort !== undefined && p.endPort > p.port) m += `-${p.endPort}`;
      }
      portMatches.add(m);
    }
    if (ports.some((p) => typeof p.port === "string")) {
      const s = this.set(
        `${base}-n${fam}`,
        `${ADDR[fam]} . inet_proto . inet_service`,
        false,
        [...new Set(named)],
      );
      portMatches.add(`${kw} daddr . meta l4proto . th dport @${s}`);
    }
    const lines: string[] = [];
    for (const pm of peerMatches) {
      for (const po of portMatches) {
        lines.push([pm, po, "accept"].filter((x) => x !== "").join(" "));
      }
    }
    return lines;
  }

  policyChain(
    pol: NetworkPolicy,
    h: string,
    ingress: boolean,
    selected: Pod[],
  ): string {
    const ns = pol.metadata.namespace ?? "default";
    const d = ingress ? "i" : "e";
    const rules = ingress
      ? (pol.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports }))
      : (pol.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
    const lines = rules.flatMap((r, i) =>
      FAMS.flatMap((fam) =>
        this.ruleLines(
          `s-${h}-${d}${i}`,
          fam,
          ingress,
          ns,
          r.peers ?? [],
          r.ports ?? [],
          selected,
        )
      )
    );
    const name = `p${d}-${h}`;
    this.frag.chains.set(name, [...new Set(lines)]);
    return name;
  }

  /** The fragment of one policy (null when it selects no local pod). */
  fragment(pol: NetworkPolicy): Fragment | null {
    const ns = pol.metadata.namespace ?? "default";
    const selected = this.local.filter((p) =>
      p.namespace === ns && selectorMatches(pol.spec.podSelector, p.labels)
    );
    if (selected.length === 0) return null;
    this.frag = { ...newFragment(), selected };
    const h = shortHash(key(pol));
    const types = policyTypesOf(pol.spec);
    if (types.includes("Ingress")) {
      this.frag.ingress = this.policyChain(pol, h, true, selected);
    }
    if (types.includes("Egress")) {
      this.frag.egress = this.policyChain(pol, h, false, selected);
    }
    return this.frag;
  }

  run(): NetpolState {
    const c = this.cache;
    if (c.nodeName !== this.input.nodeName) {
      c.fragments.clear();
      c.nodeName = this.input.nodeName;
    }
    const ch = changesSince(c, this.input);
    const policies = [...this.input.policies].sort((a, b) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0
    );
    const live = new Set<string>();
    const ing = new Map<string, [Pod, string[]]>();
    const egr = new Map<string, [Pod, string[]]>();
    c.recompiled = 0;
    for (const pol of policies) {
      const k = key(pol);
      live.add(k);
      const hit = c.fragments.get(k);
      let frag: Fragment | null;
      if (
        hit && hit.pol === pol &&
        !touches(pol, ch, this.input.nodeName, (n) => this.labelsOfNamespace(n))
      ) frag = hit.frag;
      else {
        c.recompiled++;
        frag = this.fragment(pol) ?? newFragment();
        c.fragments.set(k, { pol, frag });
      }
      for (const [n, d] of frag.sets) this.out.sets.set(n, d);
      for (const [n, r] of frag.chains) this.out.chains.set(n, r);
      for (
        const [chain, into] of [[frag.ingress, ing], [
          frag.egress,
          egr,
        ]] as const
      ) {
        if (chain === null) continue;
        for (const p of frag.selected) {
          const k = podKey(p);
          into.set(k, [p, [...(into.get(k)?.[1] ?? []), chain]]);
        }
      }
    }
    for (const k of c.fragments.keys()) if (!live.has(k)) c.fragments.delete(k);
    this.groups(ing, "ingress", "gi");
    this.groups(egr, "egress", "ge");
    const node: Pod["addrs"] = withAddrs({
      ips: this.input.nodeIPs,
    } as PodView).addrs;
    for (const fam of FAMS) {
      this.out.sets.set(`node${fam}`, {
        type: ADDR[fam],
        interval: false,
        elements: new Set(node[fam]),
      });
    }
    return this.out;
  }

  groups(
    by: Map<string, [Pod, string[]]>,
    map: string,
    prefix: string,
  ): void {
    const elements = { 4: new Map<string, string>(), 6: new Map() };
    for (const [pod, chains] of by.values()) {
      const name = `${prefix}-${shortHash(chains.join(","))}`;
      if (!this.out.chains.has(name)) {
        this.out.chains.set(name, [...chains.map((c) => `jump ${c}`), "drop"]);
      }
      for (const fam of FAMS) {
        for (const a of pod.addrs[fam]) elements[fam].set(a, `goto ${name}`);
      }
    }
    for (const fam of FAMS) {
      this.out.maps.set(`${map}${fam}`, {
        type: ADDR[fam],
        elements: elements[fam],
      });
    }
  }
}

const key = (p: NetworkPolicy) =>
  `${p.metadata.namespace ?? "default"}/${p.metadata.name}`;

/**
 * The nftables state enforcing `input.policies` for the node's pods. Pass
 * the same `cache` on every call (and unchanged objects for what did not
 * change) to recompile only what a change touches; the result is the same.
 */
export function compile(
  input: CompileInput,
  cache: CompileCache = new CompileCache(),
): NetpolState {
  return new Compiler(input, cache).run();
}
