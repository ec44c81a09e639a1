// runFlannel: the flannel internal task. Order: net-conf, interface, our
// podCIDR, backend device, annotations, masquerade/forward rules,
// subnet.env, then remote leases (full reconcile after every list), the
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

import {
  genlFamily,
  netEvents,
  Netlink,
  nftEvents,
  sysctlSet,
} from "../../ffi/mod.ts";
import type { KubeClient } from "../kube/mod.ts";
import { createBackend, type DualBackend } from "./backend/mod.ts";
import type { Dataplane } from "./dataplane.ts";
import { FlannelError } from "./errors.ts";
import { type IfaceInput, selectInterface } from "./iface.ts";
import { annotationKeys } from "./lease.ts";
import {
  IptablesRules,
  NftRules,
  removeOtherMode,
  type RuleInput,
} from "./masq.ts";
import { loadNetConf, type NetConf } from "./netconf.ts";
import {
  credentialRejected,
  kubeNodeSource,
  type NodeSource,
  rejectedError,
} from "./node_source.ts";
import {
  KubeSubnetManager,
  type LeaseEvent,
  type OwnLeaseInput,
} from "./subnet_manager.ts";
import { gatewayForm, readSubnetEnv, writeSubnetEnv } from "./subnet_env.ts";
import { sleep } from "./sleep.ts";
import { Repairer } from "./repair.ts";
import {
  countReconcile,
  countRulesRebuilt,
  exposeLeases,
  type FlannelReport,
  safeReport,
} from "./metrics.ts";

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
   * 30 s, or the environment's WEFT_FLANNEL_RECONCILE_MS (operators and
   * tests that want it faster).
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

export interface FlannelContext {
  signal: AbortSignal;
  ready: () => void;
  log: (msg: string) => void;
}

function ruleInputs(
  conf: NetConf,
  own: { v4: RuleInput["podCIDR"]; v6: RuleInput["podCIDR"] },
): { input: RuleInput; masq: "v4" | "v6" }[] {
  const out: { input: RuleInput; masq: "v4" | "v6" }[] = [];
  if (conf.network) {
    out.push({
      input: { family: 4, network: conf.network, podCIDR: own.v4 },
      masq: "v4",
    });
  }
  if (conf.ipv6Network) {
    out.push({
      input: { family: 6, network: conf.ipv6Network, podCIDR: own.v6 },
      masq: "v6",
    });
  }
  return out;
}

/** The flannel task (see contracts.md: returns when ctx.signal aborts). */
export async function runFlannel(
  opts: FlannelOptions,
  ctx: FlannelContext,
): Promise<void> {
  const { signal, log } = ctx;
  const source = opts.nodes ?? (opts.kube ? kubeNodeSource(opts.kube) : null);
  if (!source) {
    throw new TypeError("runFlannel needs opts.kube or opts.nodes");
  }
  const { path: confPath, conf } = await loadNetConf({
    dataDir: opts.dataDir,
    flannelConf: opts.flannelConf,
    backend: opts.backend,
    clusterCIDRs: opts.clusterCIDRs,
  });
  log(
    `net-conf ${confPath}: backend ${conf.backend.type}, network ${
      [conf.network, conf.ipv6Network].filter(Boolean).join(",")
    }`,
  );
  const runDir = opts.runDir ?? "/run/flannel";
  const keys = annotationKeys(opts.annotationPrefix);
  const report = safeReport(opts.report);
  const sm = new KubeSubnetManager({
    source,
    nodeName: opts.nodeName,
    keys,
    conf,
    onReject: (message) =>
      report({ reason: "LeaseRejected", type: "Warning", message }),
    log,
  });

  using nl = Netlink.open({ netns: opts.netns });
  const dp: Dataplane = nl;
  const sel = selectInterface(dp, opts, sm.families);
  log(
    `using interface ${sel.name} (mtu ${sel.mtu}) address ${
      sel.ifaceAddr ?? sel.ifaceAddr6
    }, public ${sel.overwrite ?? sel.extAddr ?? sel.extAddr6}`,
  );

  let own: Awaited<ReturnType<typeof sm.ownSubnets>>;
  try {
    own = await sm.ownSubnets(signal);
  } catch (e) {
    if (signal.aborted) return; // stopped while waiting for the podCIDR
    throw e;
  }
  log(`own subnet ${[own.v4, own.v6].filter(Boolean).join(",")}`);

  const backend = createBackend({
    nl: dp,
    conf,
    ext: sel,
    log,
    previousData: parseMaybe(own.node.metadata.annotations?.[keys.backendData]),
    previousV6Data: parseMaybe(
      own.node.metadata.annotations?.[keys.backendV6Data],
    ),
    sysctl: (key, value) => sysctlSet(key, value, { netns: opts.netns }),
    runDir,
    netns: opts.netns,
    kernelWireguard: () => {
      try {
        return genlFamily("wireguard", { netns: opts.netns }) !== null;
      } catch {
        return false; // no libnl-genl: only a note in the log depends on it
      }
    },
  });
  await backend.configure({ subnet: own.v4, ipv6Subnet: own.v6 });

  const lease: OwnLeaseInput = {
    backendType: backend.type,
    backendData: backend.backendData(),
    backendV6Data: backend.backendV6Data(),
    publicIP: sel.extAddr,
    publicIPv6: sel.extAddr6,
    overwrite: sel.overwrite,
    overwrite6: sel.overwrite6,
  };
  await sm.publish(own.node, lease);

  // Masquerade and forward rules (the previous subnet.env tells whether
  // rules of another network or subnet may be left: our chains are rebuilt
  // from scratch in that case).
  const envPath = `${runDir}/subnet.env`;
  const prev = await readSubnetEnv(envPath, log);
  const families = ruleInputs(conf, own);
  await removeOtherMode(
    conf.enableNFTables,
    families.map((f) => f.input.family),
    opts.netns,
  );
  const rules = families.map(({ input, masq }) => {
    const on = masq === "v4" || !!opts.ipv6Masq;
    return conf.enableNFTables
      ? new NftRules(input, { masq: on, netns: opts.netns })
      : new IptablesRules(input, { masq: on, netns: opts.netns });
  });
  const stale = prev && (
    prev.network?.toString() !== conf.network?.toString() ||
    prev.subnet?.toString() !==
      (own.v4 ? gatewayForm(own.v4).toString() : undefined)
  );
  if (stale) {
    log(
      `network or subnet changed since ${envPath} was written; rebuilding rules`,
    );
    for (const r of rules) await r.remove();
  }
  for (const r of rules) await r.ensure();

  await writeSubnetEnv(envPath, {
    network: conf.network,
    subnet: own.v4 ? gatewayForm(own.v4) : null,
    ipv6Network: conf.ipv6Network,
    ipv6Subnet: own.v6 ? gatewayForm(own.v6) : null,
    mtu: backend.mtu,
    ipMasq: true,
  });
  log(`wrote ${envPath} (mtu ${backend.mtu})`);

  await runLoops({
    opts,
    ctx,
    sm,
    backend,
    rules,
    lease,
    netns: opts.netns,
    report,
  });
}

function envMs(name: string): number | undefined {
  let v: string | undefined;
  try {
    v = Deno.env.get(name);
  } catch {
    return undefined; // no env permission: the default applies
  }
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 100) {
    throw new FlannelError(
      `${name}=${v}: must be a whole number of milliseconds, at least 100`,
    );
  }
  return n;
}

function parseMaybe(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function runLoops(a: {
  opts: FlannelOptions;
  ctx: FlannelContext;
  sm: KubeSubnetManager;
  backend: DualBackend;
  rules: { ensure(): Promise<boolean>; check(): Promise<boolean> }[];
  lease: OwnLeaseInput;
  netns?: string;
  report: FlannelReport;
}): Promise<void> {
  const { ctx, sm, backend } = a;
  const { log } = ctx;
  // The loops stop together: when the task is stopped, or when one of them
  // fails for good (a rejected credential), which ends the task with that
  // error so that the supervisor restarts it.
  const stop = new AbortController();
  const forward = () => stop.abort();
  ctx.signal.addEventListener("abort", forward, { once: true });
  if (ctx.signal.aborted) stop.abort();
  const signal = stop.signal;
  let fatal: unknown;
  const fail = (e: unknown) => {
    fatal ??= e;
    stop.abort();
  };
  let synced = false;
  let readied = false;

  // One backend step at a time (lease events, reconcile passes): the
  // wireguard backend's steps are asynchronous.
  let pass: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => T | Promise<T>): Promise<T> => {
    const p = pass.then(fn);
    pass = p.catch(() => {});
    return p;
  };
  /** A full pass; returns how many entries it wrote or removed. */
  const reconcile = (why: string): Promise<number> =>
    serial(() => reconcileOnce(why));
  const reconcileOnce = async (why: string): Promise<number> => {
    try {
      const r = await backend.reconcile(sm.leases());
      countReconcile(r);
      if (r.recreated || r.fixed || r.removed) {
        log(
          `reconcile (${why}): ${
            r.recreated ? `recreated ${backend.device}, ` : ""
          }${r.fixed} entries written, ${r.removed} stale removed`,
        );
      }
      return (r.recreated ? 1 : 0) + r.fixed + r.removed;
    } catch (e) {
      log(`reconcile (${why}) failed: ${(e as Error).message}`);
      return 0;
    }
  };

  const onEvent = async (ev: LeaseEvent) => {
    if (ev.type === "synced") {
      await reconcile("node list");
      synced = true;
      if (!readied) {
        readied = true;
        try {
          await sm.markNetworkUp();
        } catch (e) {
          log(`setting NetworkUnavailable=False: ${(e as Error).message}`);
        }
        log(`flannel is up with ${ev.leases.length} remote leases`);
        a.report({
          reason: "FlannelUp",
          type: "Normal",
          message: `flannel backend ${
            backend.parts.map((b) => b.type).join("+")
          } is up with ${ev.leases.length} remote leases`,
        });
        ctx.ready();
      }
      return;
    }
    if (!synced) return; // the reconcile after the list programs these
    try {
      if (ev.type === "added") {
        await serial(() => backend.addLease(ev.lease));
        log(`lease added: ${ev.lease.node} ${ev.lease.subnet}`);
      } else {
        await serial(() => backend.removeLease(ev.lease));
        log(`lease removed: ${ev.lease.node} ${ev.lease.subnet}`);
      }
    } catch (e) {
      log(`programming lease of ${ev.lease.node}: ${(e as Error).message}`);
    }
  };

  const watch = sm.watch(onEvent, signal);
  const unexpose = exposeLeases(() => sm.leases().length);

  const periodic = async () => {
    const every = a.opts.reconcileIntervalMs ??
      envMs("WEFT_FLANNEL_RECONCILE_MS") ??
      30_000;
    while (!signal.aborted) {
      await sleep(every, signal);
      if (signal.aborted) break;
      if (synced) await reconcile("periodic");
      await ensureRules();
      try {
        if (await sm.republish(a.lease)) {
          log("our lease annotations had been changed; published them again");
        }
      } catch (e) {
        if (credentialRejected(e)) throw rejectedError("lease check", e);
        log(`lease check: ${(e as Error).message}`);
      }
    }
  };

  /** Rebuilds whatever rules differ; returns how many families it fixed. */
  const ensureRules = async (): Promise<number> => {
    let fixed = 0;
    for (const r of a.rules) {
      if (signal.aborted) break;
      try {
        if (await r.ensure()) fixed++;
      } catch (e) {
        log(`checking rules: ${(e as Error).message}`);
      }
    }
    if (fixed) log("masquerade/forward rules were rebuilt");
    countRulesRebuilt(fixed);
    return fixed;
  };
  const rulesRepair = new Repairer({
    what: "the masquerade/forward rules",
    log,
    debounceMs: 50,
    pass: ensureRules,
  });
  signal.addEventListener("abort", () => rulesRepair.close(), { once: true });
  let nftWatching = false;

  const rulesLoop = async () => {
    while (!signal.aborted) {
      const every = a.opts.rulesIntervalMs ?? (nftWatching ? 5_000 : 1_000);
      await sleep(every, signal);
      for (const r of a.rules) {
        if (signal.aborted) break;
        try {
          if (!(await r.check())) rulesRepair.notify("rules check");
        } catch (e) {
          log(`checking rules: ${(e as Error).message}`);
        }
      }
    }
  };

  // nf_tables notifications (nft, and iptables on its nf_tables backend):
  // any change of the rule set schedules a check of ours.
  const rulesWatch = async () => {
    if (a.rules.length === 0) return;
    let events;
    try {
      events = nftEvents({ netns: a.netns });
    } catch (e) {
      log(
        `nf_tables notifications: ${
          (e as Error).message
        }; checking rules every second`,
      );
      return;
    }
    nftWatching = true;
    const stop = () => events.close();
    signal.addEventListener("abort", stop, { once: true });
    try {
      for await (const ev of events) {
        if (signal.aborted) break;
        rulesRepair.notify(ev.overflow ? "notifications dropped" : "nftables");
      }
    } catch (e) {
      if (!signal.aborted) {
        log(`nf_tables notifications: ${(e as Error).message}`);
      }
    } finally {
      nftWatching = false;
      signal.removeEventListener("abort", stop);
      events.close();
    }
  };

  // Link, neighbour/FDB and route notifications: a change that disagrees
  // with the leases schedules a repair pass.
  const dataplaneWatch = async () => {
    if (backend.parts.every((b) => b.type === "none")) return;
    const repair = new Repairer({
      what: "the dataplane",
      log,
      pass: (why) => reconcile(why),
    });
    const events = netEvents({ netns: a.netns });
    const stop = () => {
      events.close();
      repair.close();
    };
    signal.addEventListener("abort", stop, { once: true });
    try {
      for await (const ev of events) {
        if (signal.aborted) break;
        if (!synced) continue; // the reconcile after the list covers it
        const why = backend.drift(ev);
        if (why === null) continue;
        if (ev.kind === "link" && ev.type === "del") {
          log(`${why}; recreating it`);
        }
        repair.notify(why);
      }
    } catch (e) {
      if (!signal.aborted) {
        log(
          `netlink notifications: ${
            (e as Error).message
          }; relying on periodic reconcile`,
        );
      }
    } finally {
      signal.removeEventListener("abort", stop);
      stop();
      await repair.idle; // a pass under way finishes before the task ends
    }
  };

  const watched = watch.done.then(() => {
    if (!signal.aborted) {
      fail(new FlannelError("node watch ended unexpectedly"));
    }
  });
  try {
    await Promise.all(
      [watched, periodic(), rulesLoop(), rulesWatch(), dataplaneWatch()].map((
        p,
      ) => p.catch(fail)),
    );
  } finally {
    unexpose();
    rulesRepair.close();
    await rulesRepair.idle;
    ctx.signal.removeEventListener("abort", forward);
  }
  if (fatal !== undefined) throw fatal;
}
