// The network policy controller of an agent: lists and watches
// NetworkPolicies, Pods and Namespaces, and after every change compiles the
// state for this node's pods and writes only the difference into weft's own
// nft table (one `nft -f -` per change; changes arriving together are
// coalesced). The first write, once all three are listed, replaces whatever
// an earlier run left (stale rules go); until then that table stays in
// force, so a restart opens no window. Stopping leaves the rules in place;
// --disable-network-policy removes them (removeNetworkPolicyTable).

import type { KubeClient, Pod } from "../kube/mod.ts";
import { CIDR } from "../net/mod.ts";
import { compile, CompileCache } from "./compile.ts";
import { NetpolTable, type SyncResult } from "./table.ts";
import type {
  Namespace,
  NamespaceView,
  NetworkPolicy,
  PodView,
} from "./types.ts";
import { POLICIES_PATH } from "./standby.ts";
import { networkPolicyCauses } from "./validate.ts";
import { namespaceView, podView, slimNamespace, slimPod } from "./views.ts";

export { POLICIES_PATH };
export const PODS_PATH = "/api/v1/pods";
export const NAMESPACES_PATH = "/api/v1/namespaces";

export interface SyncReport extends SyncResult {
  /** Time from the change that started this sync to the table written. */
  ms: number;
  /** CPU-side compile + diff time. */
  compileMs: number;
  /** Policies compiled again for this change (the others were reused). */
  recompiled: number;
}

export interface NetpolControllerOptions {
  kube: KubeClient;
  nodeName: string;
  /** The node's addresses (always allowed in); read per sync. */
  nodeIPs: () => string[];
  /** The node's pod CIDRs: their gateways (cni0) are allowed in too. */
  podCIDRs?: () => string[];
  signal: AbortSignal;
  log: (msg: string) => void;
  /** Network namespace to program (tests); the caller's when unset. */
  netns?: string;
  /** Called once the first full table is written. */
  ready?: () => void;
  /** Called after every sync that wrote something (tests, bench). */
  onSync?: (r: SyncReport) => void;
  /** How often a quiet controller checks that its table still exists; default 10 s. */
  checkMs?: number;
  /** First retry delay after a failed write; default 500 ms. */
  retryMs?: number;
}

function abortable(signal: AbortSignal, ms?: number): {
  promise: Promise<void>;
  wake: () => void;
} {
  let wake!: () => void;
  const promise = new Promise<void>((resolve) => {
    const t = ms === undefined ? undefined : setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    wake = done;
    signal.addEventListener("abort", done, { once: true });
  });
  return { promise, wake };
}

/** The bridge gateway of each pod CIDR (its first host address). */
export function gateways(podCIDRs: string[]): string[] {
  return podCIDRs.map((c) => CIDR.tryParse(c))
    .filter((c) => c !== null)
    .map((c) => c.first().add(1).toString());
}

/** Runs until `signal` aborts. */
export async function runNetpolController(
  o: NetpolControllerOptions,
): Promise<void> {
  const table = new NetpolTable({ netns: o.netns });
  if (!table.bridgeNetfilter()) {
    o.log(
      "br_netfilter is not available: traffic between pods of this node bypasses network policy",
    );
  }
  let dirtySince: number | null = null;
  let wake: (() => void) | null = null;
  const kick = () => {
    dirtySince ??= performance.now();
    wake?.();
  };
  const reported = new Map<string, string>();
  const onError = (what: string) => (e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    if (reported.get(what) !== msg) o.log(`${what}: ${msg}; retrying`);
    reported.set(what, msg);
  };
  const h = { added: kick, updated: kick, deleted: kick };
  const opts = { signal: o.signal };
  const policies = o.kube.informer<NetworkPolicy>(POLICIES_PATH, {
    ...h,
    error: onError("list/watch networkpolicies"),
  }, opts);
  // Every pod and namespace of the cluster is cached: only what the
  // compiler reads of them (views.ts).
  const pods = o.kube.informer<Pod>(PODS_PATH, {
    ...h,
    error: onError("list/watch pods"),
  }, { ...opts, slim: slimPod });
  const namespaces = o.kube.informer<Namespace>(NAMESPACES_PATH, {
    ...h,
    error: onError("list/watch namespaces"),
  }, { ...opts, slim: slimNamespace });
  await Promise.all([policies.synced, pods.synced, namespaces.synced]);
  // Validity by object (the informer replaces an object when it changes).
  const checked = new WeakMap<NetworkPolicy, boolean>();
  const valid = (): NetworkPolicy[] =>
    [...policies.cache.values()].filter((p) => {
      let ok = checked.get(p);
      if (ok === undefined) {
        const causes = networkPolicyCauses(p);
        ok = causes.length === 0;
        checked.set(p, ok);
        if (!ok) {
          o.log(
            `ignoring invalid NetworkPolicy ${p.metadata?.namespace}/${p.metadata?.name}: ${
              causes.map((c) => `${c.field}: ${c.message}`).join("; ")
            }`,
          );
        }
      }
      return ok;
    });
  const cache = new CompileCache();
  const podViews = new WeakMap<Pod, PodView | null>();
  const nsViews = new WeakMap<Namespace, NamespaceView>();
  const viewOf = (p: Pod) => {
    let v = podViews.get(p);
    if (v === undefined) podViews.set(p, v = podView(p));
    return v;
  };
  const nsViewOf = (n: Namespace) => {
    let v = nsViews.get(n);
    if (v === undefined) nsViews.set(n, v = namespaceView(n));
    return v;
  };
  let first = true;
  let retry = o.retryMs ?? 500;
  dirtySince ??= performance.now();
  while (!o.signal.aborted) {
    if (dirtySince === null) {
      const w = abortable(o.signal, o.checkMs ?? 10_000);
      wake = w.wake;
      await w.promise;
      wake = null;
      // Quiet: make sure nobody removed the table (nft flush ruleset).
      if (dirtySince === null && !first && !o.signal.aborted) {
        if (!(await table.exists().catch(() => true))) {
          o.log(
            "the network policy table was removed by someone; loading it again",
          );
          table.invalidate();
          kick();
        }
      }
      continue;
    }
    // Let events that arrived together land before compiling once.
    await new Promise((r) => setTimeout(r, 0));
    const since: number = dirtySince;
    dirtySince = null;
    try {
      const t0 = performance.now();
      const want = compile({
        nodeName: o.nodeName,
        nodeIPs: [...o.nodeIPs(), ...gateways(o.podCIDRs?.() ?? [])],
        policies: valid(),
        pods: [...pods.cache.values()].map(viewOf).filter((p) => p !== null),
        namespaces: [...namespaces.cache.values()].map(nsViewOf),
      }, cache);
      const compileMs = performance.now() - t0;
      const r = await table.sync(want);
      if (first) {
        o.log(
          `network policy table loaded (${policies.cache.size} policies, ${r.ops} nft commands)`,
        );
        first = false;
        o.ready?.();
      }
      retry = o.retryMs ?? 500;
      if (r.ops > 0) {
        o.onSync?.({
          ...r,
          ms: performance.now() - since,
          compileMs,
          recompiled: cache.recompiled,
        });
      }
    } catch (e) {
      onError("writing the network policy table")(e);
      dirtySince ??= since;
      await abortable(o.signal, retry).promise;
      retry = Math.min(retry * 2, 30_000);
    }
  }
  await Promise.all([policies.done, pods.done, namespaces.done]);
}

/** Removes the controller's table (--disable-network-policy). */
export async function removeNetworkPolicyTable(netns?: string): Promise<void> {
  await new NetpolTable({ netns }).remove();
}
