// runFlannel: the flannel internal task. Setup (setup.ts), in order:
// net-conf, interface, our podCIDR, backend device, annotations,
// masquerade/forward rules, subnet.env; then the running task (task.ts):
// remote leases (full reconcile after every list), the
// NetworkUnavailable condition and ready(). From then on netlink
// notifications that disagree with the leases (a neighbour, FDB entry or
// route changed, added or deleted by someone else; the device deleted)
// trigger a debounced repair pass, nf_tables notifications a rule check;
// the periodic reconcile stays as the safety net. Stopping leaves the
// dataplane in place; a restart reuses what is there and writes only
// differences. A credential the API server rejects (401/403, in the node
// watch or the periodic lease check) ends the task with a FlannelError:
// retrying it cannot help, the supervisor restarts the task once the agent
// has joined again.

import { Netlink } from "../../ffi/mod.ts";
import type { KubeClient } from "../kube/mod.ts";
import type { TaskContext } from "../util/task.ts";
import type { Dataplane } from "./dataplane.ts";
import type { IfaceInput } from "./iface.ts";
import type { NodeSource } from "./node_source.ts";
import { setupFlannel } from "./setup.ts";
import { FlannelTask } from "./task.ts";
import type { FlannelReport } from "./metrics.ts";

export interface FlannelOptions extends IfaceInput {
  nodeName: string;
  /** The cluster: a KubeClient, or any NodeSource (tests). */
  kube?: KubeClient;
  nodes?: NodeSource;
  /** Data dir; net-conf.json goes to <dataDir>/agent/etc/flannel/. */
  dataDir: string;
  /** Where subnet.env goes; default /run/flannel. */
  runDir?: string;
  /** --flannel-backend: vxlan (default), host-gw, wireguard-native, none. */
  backend?: string;
  /** --cluster-cidr list; default 10.42.0.0/16. */
  clusterCIDRs?: string[];
  /** --flannel-conf: a net-conf.json used instead of the generated one. */
  flannelConf?: string;
  /** --flannel-ipv6-masq. */
  ipv6Masq?: boolean;
  /** Network namespace (path) for netlink and netfilter; default: ours. */
  netns?: string;
  /** --kube-annotation-prefix; default flannel.alpha.coreos.com. */
  annotationPrefix?: string;
  /**
   * Full reconcile of the dataplane and check of our lease annotations
   * (restored when changed; a rejected credential ends the task); default
   * 30 s (the agent passes WEFT_FLANNEL_RECONCILE_MS, for operators and
   * tests that want it faster; library code reads no environment).
   */
  reconcileIntervalMs?: number;
  /**
   * Cheap masquerade/forward rule check (the jump rules, or weft's own nft
   * table); default 1 s, or 5 s when nf_tables change notifications are
   * available (they trigger a check at once).
   */
  rulesIntervalMs?: number;
  /** Events for the operator (backend up, a rejected lease); best effort. */
  report?: FlannelReport;
}

/**
 * The flannel task: returns when ctx.signal aborts (also while it waits for
 * the podCIDR), throws when it cannot go on (a rejected credential, a node
 * watch that ended).
 */
export async function runFlannel(
  opts: FlannelOptions,
  ctx: TaskContext,
): Promise<void> {
  using netlink = Netlink.open({ netns: opts.netns });
  const dataplane: Dataplane = netlink;
  const setup = await setupFlannel(opts, ctx, dataplane);
  if (!setup) return;
  await new FlannelTask(opts, ctx, setup).run();
}
