// weft's one-plugin conflist: flannel declares the `portMappings` and
// `bandwidth` capabilities and applies them itself, after its delegate,
// with the portmap and bandwidth plugins called in this process - one exec
// per pod operation instead of three (K3s's flannel -> portmap -> bandwidth
// chain). A plugin is only loaded when its capability has work to do.

import {
  CniError,
  type Command,
  ErrorCode,
  type NetConf,
  type PluginContext,
  type Result,
} from "../plugin.ts";
import { delegate } from "../delegate.ts";
import { IFB_PREFIX } from "../bandwidth/config.ts";

/** The chained plugins flannel can run in process, in ADD order. */
const STEPS = [
  { type: "portmap", capability: "portMappings", options: "portmap" },
  { type: "bandwidth", capability: "bandwidth", options: "bandwidth" },
] as const;

type Step = typeof STEPS[number];

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** True when flannel's config declares `capability`. */
function declares(config: NetConf, capability: string): boolean {
  return isMap(config.capabilities) && config.capabilities[capability] === true;
}

/**
 * The runtime's value for the step's capability; runtimes only pass the
 * keys a plugin declares, so an undeclared capability reads as absent.
 */
function runtimeValue(config: NetConf, step: Step): unknown {
  if (!declares(config, step.capability)) return undefined;
  const rc = config.runtimeConfig;
  return isMap(rc) ? rc[step.capability] : undefined;
}

/** True when the step has work for `command` (the reference's own checks). */
function active(config: NetConf, step: Step, command: Command): boolean {
  if (!declares(config, step.capability)) return false;
  const v = runtimeValue(config, step);
  if (step.type === "portmap") {
    // portmap without mappings does nothing on ADD, CHECK and DEL; GC
    // still sweeps chains of containers that are gone. A value that is not
    // a list goes to portmap, which rejects it.
    if (command === "GC") return true;
    return v !== undefined && v !== null &&
      !(Array.isArray(v) && v.length === 0);
  }
  // bandwidth: DEL removes the ifb device whatever the runtime passes (it
  // may pass nothing on DEL) - unless prevResult, the result of this ADD,
  // shows none was made (bandwidth lists its ifb device there); the other
  // verbs need limits.
  if (command === "DEL") {
    const prev = config.prevResult;
    const ifaces: unknown[] = Array.isArray(prev?.interfaces)
      ? prev.interfaces
      : [];
    return !prev ||
      ifaces.some((i) =>
        isMap(i) && !i.sandbox && typeof i.name === "string" &&
        i.name.startsWith(IFB_PREFIX)
      );
  }
  if (command === "GC") return false;
  return v !== undefined && v !== null;
}

/** The chained plugin's config, as the runtime would hand it over. */
function stepConf(
  config: NetConf,
  step: Step,
  prevResult: Result | undefined,
): NetConf {
  const opts = config[step.options];
  if (opts !== undefined && !isMap(opts)) {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `"${step.options}" must be an object of ${step.type} options`,
    );
  }
  // Options never carry what the runtime and flannel set.
  const { runtimeConfig: _r, prevResult: _p, ...own } = opts ?? {};
  const conf: NetConf = {
    ...own,
    cniVersion: config.cniVersion,
    name: config.name,
    type: step.type,
    capabilities: { [step.capability]: true },
  };
  const v = runtimeValue(config, step);
  if (v !== undefined) conf.runtimeConfig = { [step.capability]: v };
  if (prevResult) conf.prevResult = prevResult;
  for (const k of ["cni.dev/valid-attachments", "cni.dev/attachments"]) {
    if (config[k] !== undefined) conf[k] = config[k];
  }
  return conf;
}

/** True when some capability has work for `command` (so nothing loads otherwise). */
export function hasCapabilityWork(config: NetConf, command: Command): boolean {
  return STEPS.some((s) => active(config, s, command));
}

/** ADD: portmap, then bandwidth, each on the previous result. */
export async function addCapabilities(
  ctx: PluginContext,
  result: Result,
): Promise<Result> {
  let prev = result;
  for (const step of STEPS) {
    if (!active(ctx.config, step, "ADD")) continue;
    const out = await delegate(
      step.type,
      "ADD",
      stepConf(ctx.config, step, prev),
      ctx,
    );
    if (out) prev = out;
  }
  return prev;
}

/**
 * DEL (bandwidth, then portmap: the reverse of ADD) or CHECK/GC (ADD
 * order). DEL tries every step and throws the first failure at the end, so
 * a failed teardown never keeps the delegate from releasing the IP.
 */
export async function runCapabilities(
  ctx: PluginContext,
  command: "DEL" | "CHECK" | "GC",
): Promise<void> {
  const steps = command === "DEL" ? [...STEPS].reverse() : STEPS;
  const prev = ctx.config.prevResult;
  let first: unknown;
  for (const step of steps) {
    if (!active(ctx.config, step, command)) continue;
    if (command === "CHECK" && !prev) continue;
    try {
      await delegate(step.type, command, stepConf(ctx.config, step, prev), ctx);
    } catch (err) {
      if (command !== "DEL") throw err;
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
