// The flannel CNI plugin: renders a delegate config (bridge + host-local by
// default) from subnet.env and runs it, in process for weft's own plugins;
// then applies the portMappings and bandwidth capabilities it declares
// (weft's default one-plugin conflist; see capabilities.ts).

import {
  CniError,
  ErrorCode,
  type NetConf,
  type Plugin,
  type PluginContext,
  type Result,
} from "../plugin.ts";
import { delegate } from "../delegate.ts";
import {
  buildDelegate,
  type FlannelConf,
  flannelConf,
} from "./delegate_conf.ts";
import {
  addCapabilities,
  hasCapabilityWork,
  runCapabilities,
} from "./capabilities.ts";
import { readConf, removeConf, saveConf, savedIds } from "./saved.ts";
import { loadSubnetEnv } from "./subnet_env.ts";
import {
  podRecordDir,
  readPodRecords,
  removePodRecord,
  writePodRecord,
} from "../pod_record.ts";

export {
  buildDelegate,
  DEFAULT_DATA_DIR,
  type FlannelConf,
  flannelConf,
} from "./delegate_conf.ts";
export {
  DEFAULT_SUBNET_FILE,
  loadSubnetEnv,
  parseSubnetEnv,
  type SubnetEnv,
} from "./subnet_env.ts";

function rendered(
  ctx: PluginContext,
  fc: FlannelConf = flannelConf(ctx.config),
): NetConf {
  return buildDelegate(ctx.config, fc, loadSubnetEnv(fc.subnetFile));
}

async function add(ctx: PluginContext): Promise<Result> {
  const fc = flannelConf(ctx.config);
  const conf = rendered(ctx, fc);
  saveConf(fc.dataDir, ctx.containerId, JSON.stringify(conf), ctx.defer);
  let result: Result | undefined;
  try {
    result = await delegate(conf.type, "ADD", conf, ctx);
    if (!result) {
      throw new CniError(ErrorCode.Internal, "delegate ADD returned no result");
    }
  } catch (err) {
    // Unlike upstream (plugins#426), a failed ADD leaves no saved config.
    removeConf(fc.dataDir, ctx.containerId);
    const e = err instanceof CniError ? err : null;
    throw new CniError(
      e?.code ?? ErrorCode.Internal,
      `failed to delegate add: ${(err as Error).message}`,
      e?.details,
      { cause: err },
    );
  }
  // As in a chain, a failed portmap/bandwidth step fails the ADD and the
  // runtime's DEL undoes it all (the saved config stays for that DEL).
  if (hasCapabilityWork(ctx.config, "ADD")) {
    result = await addCapabilities(ctx, result);
  }
  recordPod(ctx, fc, result);
  return result;
}

/** Leaves the pod record for the agent; never fails the ADD. */
function recordPod(ctx: PluginContext, fc: FlannelConf, result: Result) {
  try {
    writePodRecord(podRecordDir(fc.dataDir), {
      containerId: ctx.containerId,
      ifname: ctx.ifname,
      netns: ctx.netns,
      podNamespace: ctx.args.K8S_POD_NAMESPACE,
      podName: ctx.args.K8S_POD_NAME,
      ips: (result.ips ?? []).map((ip) => ip.address.split("/")[0]),
      added: new Date().toISOString(),
    });
  } catch (err) {
    ctx.log?.(`flannel: no pod record for ${ctx.containerId}: ${err}`);
  }
}

/**
 * The saved delegate config; null when there is none, "unparsable" when the
 * file cannot be used (then it is logged and removed).
 */
function savedDelegate(
  ctx: PluginContext,
  dataDir: string,
): NetConf | null | "unparsable" {
  const text = readConf(dataDir, ctx.containerId);
  if (text === null) return null;
  try {
    const conf = JSON.parse(text);
    if (typeof conf?.type !== "string") throw new Error("no delegate type");
    return conf as NetConf;
  } catch (err) {
    ctx.log?.(
      `flannel: ignoring unparsable saved config ${dataDir}/${ctx.containerId}: ${
        (err as Error).message
      }`,
    );
    removeConf(dataDir, ctx.containerId);
    return "unparsable";
  }
}

/**
 * DEL with the saved config; without a usable one (never saved, lost, or
 * unparsable: logged and removed, flannel#1662), the delegate is rendered
 * again from subnet.env so host-local still releases the container's IP
 * (upstream leaks it).
 */
async function del(ctx: PluginContext): Promise<void> {
  const fc = flannelConf(ctx.config);
  // Capabilities first (reverse of ADD); their failure is reported after
  // the delegate has released the container's address.
  let failed: unknown;
  if (hasCapabilityWork(ctx.config, "DEL")) {
    await runCapabilities(ctx, "DEL").catch((err) => failed = err);
  }
  await delDelegate(ctx, fc);
  try {
    removePodRecord(podRecordDir(fc.dataDir), ctx.containerId);
  } catch (err) {
    ctx.log?.(`flannel: pod record of ${ctx.containerId} stays: ${err}`);
  }
  if (failed !== undefined) throw failed;
}

async function delDelegate(ctx: PluginContext, fc: FlannelConf): Promise<void> {
  const saved = savedDelegate(ctx, fc.dataDir);
  // Unparsable (torn by a crash, or edited) is treated as missing: the
  // delegate is rendered again so host-local still releases the address.
  let conf = saved === "unparsable" ? null : saved;
  if (!conf) {
    try {
      conf = rendered(ctx, fc);
    } catch (err) {
      ctx.log?.(
        `flannel: no saved config for ${ctx.containerId} and no usable subnet.env (${
          (err as Error).message
        }): nothing to release`,
      );
      return;
    }
  }
  await delegate(conf.type, "DEL", conf, ctx);
  removeConf(fc.dataDir, ctx.containerId);
}

async function check(ctx: PluginContext): Promise<void> {
  const fc = flannelConf(ctx.config);
  const conf = savedDelegate(ctx, fc.dataDir);
  if (!conf || conf === "unparsable") {
    throw new CniError(
      ErrorCode.Internal,
      `flannel: no saved config for container ${ctx.containerId} in ${fc.dataDir}`,
    );
  }
  conf.cniVersion = ctx.config.cniVersion;
  if (ctx.config.prevResult) conf.prevResult = ctx.config.prevResult;
  await delegate(conf.type, "CHECK", conf, ctx);
  if (hasCapabilityWork(ctx.config, "CHECK")) {
    await runCapabilities(ctx, "CHECK");
  }
}

/** Drops saved configs of containers that are gone, then GC's the delegate. */
async function gc(ctx: PluginContext): Promise<void> {
  const fc = flannelConf(ctx.config);
  const raw = ctx.config["cni.dev/valid-attachments"] ??
    ctx.config["cni.dev/attachments"] ?? [];
  const valid = new Set(
    (Array.isArray(raw) ? raw : []).map((a) => a?.containerID),
  );
  for (const id of savedIds(fc.dataDir)) {
    if (!valid.has(id)) removeConf(fc.dataDir, id);
  }
  const records = podRecordDir(fc.dataDir);
  for (const rec of readPodRecords(records)) {
    if (!valid.has(rec.containerId)) {
      try {
        removePodRecord(records, rec.containerId);
      } catch { /* the agent drops it once its netns is gone */ }
    }
  }
  const conf = rendered(ctx, fc);
  for (const k of ["cni.dev/valid-attachments", "cni.dev/attachments"]) {
    if (ctx.config[k] !== undefined) conf[k] = ctx.config[k];
  }
  await delegate(conf.type, "GC", conf, ctx);
  if (hasCapabilityWork(ctx.config, "GC")) await runCapabilities(ctx, "GC");
}

async function status(ctx: PluginContext): Promise<void> {
  let conf: NetConf;
  try {
    conf = rendered(ctx);
  } catch (err) {
    throw new CniError(
      ErrorCode.NotAvailable,
      `flannel not ready: ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
  await delegate(conf.type, "STATUS", conf, ctx);
}

export const plugin: Plugin = { add, del, check, gc, status };
