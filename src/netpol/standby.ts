// The network-policy task before there is a policy to enforce: it watches
// NetworkPolicies only, and the controller (its compiler, the cluster-wide
// Pod and Namespace watches and their caches, the periodic table check) is
// loaded when the first one exists. Without a policy every packet passes,
// which the controller's table would also do (its base chains accept what
// no policy selects): so while the cluster has none, weft's table is
// absent, and one an earlier run left is removed.

import type { KubeClient } from "../kube/mod.ts";
import { untilAborted } from "../util/async.ts";
import { NetpolTable } from "./table.ts";
import type { NetworkPolicy } from "./types.ts";

export const POLICIES_PATH = "/apis/networking.k8s.io/v1/networkpolicies";

export interface StandbyOptions {
  kube: KubeClient;
  signal: AbortSignal;
  log: (msg: string) => void;
  /** Network namespace to program (tests); the caller's when unset. */
  netns?: string;
}

/**
 * Resolves once a NetworkPolicy exists in the cluster, or when `signal`
 * aborts. Each list that finds none removes weft's table (once it is gone,
 * nothing more is done). List and watch failures are logged and retried.
 */
export async function untilFirstPolicy(o: StandbyOptions): Promise<void> {
  const stop = new AbortController();
  const signal = AbortSignal.any([o.signal, stop.signal]);
  let found!: () => void;
  const first = new Promise<void>((r) => found = r);
  let tableGone = false;
  const reported = new Map<string, string>();
  const report = (what: string, e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    if (reported.get(what) !== msg) o.log(`${what}: ${msg}; retrying`);
    reported.set(what, msg);
  };
  let size = () => 0;
  const policies = o.kube.informer<NetworkPolicy>(POLICIES_PATH, {
    added: () => found(),
    synced: async () => {
      if (size() > 0 || tableGone) return;
      try {
        await new NetpolTable({ netns: o.netns }).remove();
        tableGone = true;
        o.log(
          "no NetworkPolicy in the cluster: nothing to enforce (no table); the controller starts with the first one",
        );
      } catch (e) {
        report("removing the network policy table", e);
      }
    },
    error: (e) => report("list/watch networkpolicies", e),
  }, { signal });
  size = () => policies.cache.size;
  await Promise.race([first, untilAborted(o.signal)]);
  stop.abort();
  await policies.done;
}
