// The flannel task's setup, in order: net-conf, interface, our podCIDR,
// backend device, lease annotations, masquerade/forward rules, subnet.env.
// Each step is one function; setupFlannel runs them and hands the result
// to the running task (task.ts).

import { genlFamily, sysctlSet } from "../../ffi/mod.ts";
import { createBackend, type DualBackend } from "./backend/mod.ts";
import type { Dataplane } from "./dataplane.ts";
import { selectInterface, type Selection } from "./iface.ts";
import { annotationKeys } from "./lease.ts";
import {
  IptablesRules,
  NftRules,
  removeOtherMode,
  type RuleInput,
} from "./masq.ts";
import { loadNetConf, type NetConf } from "./netconf.ts";
import { kubeNodeSource } from "./node_source.ts";
import type { FlannelOptions } from "./run.ts";
import type { TaskContext } from "../util/task.ts";
import { KubeSubnetManager, type OwnLeaseInput } from "./subnet_manager.ts";
import { gatewayForm, readSubnetEnv, writeSubnetEnv } from "./subnet_env.ts";
import { safeReport } from "./metrics.ts";

/** One family's masquerade/forward rules. */
export interface Rules {
  ensure(): Promise<boolean>;
  check(): Promise<boolean>;
  remove(): Promise<void>;
}

/** What the setup leaves to the running task. */
export interface FlannelSetup {
  subnets: KubeSubnetManager;
  backend: DualBackend;
  rules: Rules[];
  /** Our lease annotations, republished when someone changes them. */
  lease: OwnLeaseInput;
}

type OwnSubnets = Awaited<ReturnType<KubeSubnetManager["ownSubnets"]>>;

/** Runs the setup; null when the task was stopped while waiting for the
 * podCIDR. */
export async function setupFlannel(
  opts: FlannelOptions,
  ctx: TaskContext,
  dataplane: Dataplane,
): Promise<FlannelSetup | null> {
  const { signal, log } = ctx;
  const source = opts.nodes ?? (opts.kube ? kubeNodeSource(opts.kube) : null);
  if (!source) {
    throw new TypeError("runFlannel needs opts.kube or opts.nodes");
  }
  const conf = await netConf(opts, log);
  const runDir = opts.runDir ?? "/run/flannel";
  const keys = annotationKeys(opts.annotationPrefix);
  const report = safeReport(opts.report);
  const subnets = new KubeSubnetManager({
    source,
    nodeName: opts.nodeName,
    keys,
    conf,
    onReject: (message) =>
      report({ reason: "LeaseRejected", type: "Warning", message }),
    log,
  });
  const iface = chooseInterface(opts, dataplane, subnets, log);

  let own: OwnSubnets;
  try {
    own = await subnets.ownSubnets(signal);
  } catch (e) {
    if (signal.aborted) return null; // stopped while waiting for the podCIDR
    throw e;
  }
  log(`own subnet ${[own.v4, own.v6].filter(Boolean).join(",")}`);

  const annotations = own.node.metadata.annotations;
  const backend = await createBackend({
    nl: dataplane,
    conf,
    ext: iface,
    log,
    previousData: parseMaybe(annotations?.[keys.backendData]),
    previousV6Data: parseMaybe(annotations?.[keys.backendV6Data]),
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
    publicIP: iface.extAddr,
    publicIPv6: iface.extAddr6,
    overwrite: iface.overwrite,
    overwrite6: iface.overwrite6,
  };
  await subnets.publish(own.node, lease);

  const envPath = `${runDir}/subnet.env`;
  const rules = await installRules(opts, conf, own, envPath, log);
  await writeSubnetEnv(envPath, {
    network: conf.network,
    subnet: own.v4 ? gatewayForm(own.v4) : null,
    ipv6Network: conf.ipv6Network,
    ipv6Subnet: own.v6 ? gatewayForm(own.v6) : null,
    mtu: backend.mtu,
    ipMasq: true,
  });
  log(`wrote ${envPath} (mtu ${backend.mtu})`);
  return { subnets, backend, rules, lease };
}

async function netConf(
  opts: FlannelOptions,
  log: (msg: string) => void,
): Promise<NetConf> {
  const { path, conf } = await loadNetConf({
    dataDir: opts.dataDir,
    flannelConf: opts.flannelConf,
    backend: opts.backend,
    clusterCIDRs: opts.clusterCIDRs,
  });
  log(
    `net-conf ${path}: backend ${conf.backend.type}, network ${
      [conf.network, conf.ipv6Network].filter(Boolean).join(",")
    }`,
  );
  return conf;
}

function chooseInterface(
  opts: FlannelOptions,
  dataplane: Dataplane,
  subnets: KubeSubnetManager,
  log: (msg: string) => void,
): Selection {
  const iface = selectInterface(dataplane, opts, subnets.families);
  log(
    `using interface ${iface.name} (mtu ${iface.mtu}) address ${
      iface.ifaceAddr ?? iface.ifaceAddr6
    }, public ${iface.overwrite ?? iface.extAddr ?? iface.extAddr6}`,
  );
  return iface;
}

/**
 * Masquerade and forward rules, one set per family. The previous
 * subnet.env tells whether rules of another network or subnet may be
 * left: our chains are rebuilt from scratch in that case.
 */
async function installRules(
  opts: FlannelOptions,
  conf: NetConf,
  own: OwnSubnets,
  envPath: string,
  log: (msg: string) => void,
): Promise<Rules[]> {
  const previous = await readSubnetEnv(envPath, log);
  const families = ruleInputs(conf, own);
  await removeOtherMode(
    conf.enableNFTables,
    families.map((f) => f.input.family),
    opts.netns,
  );
  const rules: Rules[] = families.map(({ input, masq }) => {
    const on = masq === "v4" || !!opts.ipv6Masq;
    return conf.enableNFTables
      ? new NftRules(input, { masq: on, netns: opts.netns })
      : new IptablesRules(input, { masq: on, netns: opts.netns });
  });
  const stale = previous && (
    previous.network?.toString() !== conf.network?.toString() ||
    previous.subnet?.toString() !==
      (own.v4 ? gatewayForm(own.v4).toString() : undefined)
  );
  if (stale) {
    log(
      `network or subnet changed since ${envPath} was written; rebuilding rules`,
    );
    for (const r of rules) await r.remove();
  }
  for (const r of rules) await r.ensure();
  return rules;
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

function parseMaybe(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
