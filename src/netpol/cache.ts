// What compile() keeps between calls so that a change costs what it
// touches: the views seen last time, each policy's fragment (its chains,
// sets and selected local pods), and which policies a change can touch.

import { IP } from "../net/mod.ts";
import { selectorMatches } from "./selector.ts";
import type { SetDef } from "./state.ts";
import {
  NAMESPACE_NAME_LABEL,
  type NamespaceView,
  type NetworkPolicy,
  type PodView,
} from "./types.ts";

/** A pod with its addresses parsed and normalized, by family. */
export interface Pod extends PodView {
  addrs: { 4: string[]; 6: string[] };
}

export function withAddrs(p: PodView): Pod {
  const addrs: Pod["addrs"] = { 4: [], 6: [] };
  for (const text of p.ips) {
    const ip = IP.tryParse(text);
    if (ip) addrs[ip.family].push(ip.toString());
  }
  return { ...p, addrs };
}

/** Pods and namespaces that changed, each in its old and new version. */
export interface Changes {
  pods: PodView[];
  namespaces: NamespaceView[];
}

/** What one policy contributes: its chains and sets, and the local pods it selects. */
export interface Fragment {
  sets: Map<string, SetDef>;
  chains: Map<string, string[]>;
  selected: Pod[];
  ingress: string | null;
  egress: string | null;
}

/** What compile() keeps between calls to recompile only what a change touches. */
export class CompileCache {
  nodeName?: string;
  pods = new Map<string, PodView>();
  namespaces = new Map<string, NamespaceView>();
  readonly fragments = new Map<
    string,
    { pol: NetworkPolicy; frag: Fragment }
  >();
  readonly addrs = new WeakMap<PodView, Pod>();
  /** Policies compiled by the last call (the rest were reused). */
  recompiled = 0;
}

export const podKey = (p: PodView) => `${p.namespace}/${p.name}`;

export function newFragment(): Fragment {
  return {
    sets: new Map(),
    chains: new Map(),
    selected: [],
    ingress: null,
    egress: null,
  };
}

/** Pods and namespaces that differ from the cache's (old and new views);
 * the cache takes the new ones. */
export function changesSince(
  c: CompileCache,
  input: { pods: PodView[]; namespaces: NamespaceView[] },
): Changes {
  const pods: PodView[] = [];
  const now = new Map(input.pods.map((p) => [podKey(p), p]));
  for (const [k, v] of now) {
    const old = c.pods.get(k);
    if (old === v) continue;
    if (old) pods.push(old);
    pods.push(v);
  }
  for (const [k, old] of c.pods) if (!now.has(k)) pods.push(old);
  c.pods = now;
  const namespaces: NamespaceView[] = [];
  const nsNow = new Map(input.namespaces.map((n) => [n.name, n]));
  const plain = (name: string) => ({
    name,
    labels: { [NAMESPACE_NAME_LABEL]: name },
  });
  for (const [k, v] of nsNow) {
    const old = c.namespaces.get(k);
    if (old === v) continue;
    namespaces.push(old ?? plain(k), v);
  }
  for (const [k, old] of c.namespaces) {
    if (!nsNow.has(k)) namespaces.push(old, plain(k));
  }
  c.namespaces = nsNow;
  return { pods, namespaces };
}

/** Whether a change of these pods or namespaces can alter the policy's fragment. */
export function touches(
  pol: NetworkPolicy,
  ch: Changes,
  nodeName: string,
  labelsOfNamespace: (ns: string) => Record<string, string>,
): boolean {
  const ns = pol.metadata.namespace ?? "default";
  const peers = [
    ...(pol.spec.ingress ?? []).flatMap((r) => r.from ?? []),
    ...(pol.spec.egress ?? []).flatMap((r) => r.to ?? []),
  ].filter((p) => p.podSelector || p.namespaceSelector);
  const egressNamed = (pol.spec.egress ?? []).some((r) =>
    (r.ports ?? []).some((p) => typeof p.port === "string")
  );
  for (const v of ch.pods) {
    if (
      v.nodeName === nodeName && v.namespace === ns &&
      selectorMatches(pol.spec.podSelector, v.labels)
    ) return true;
    if (egressNamed && v.ports.length > 0) return true;
    for (const p of peers) {
      const nsOk = p.namespaceSelector
        ? selectorMatches(
          p.namespaceSelector,
          labelsOfNamespace(v.namespace),
        )
        : v.namespace === ns;
      if (
        nsOk && (!p.podSelector || selectorMatches(p.podSelector, v.labels))
      ) {
        return true;
      }
    }
  }
  for (const n of ch.namespaces) {
    for (const p of peers) {
      if (
        p.namespaceSelector && selectorMatches(p.namespaceSelector, n.labels)
      ) {
        return true;
      }
    }
  }
  return false;
}
