// Delegation: a plugin calling another plugin (flannel -> bridge, bridge ->
// host-local). weft's own plugins run in this process; any other type is
// exec'd from CNI_PATH so an operator's plugin still works.

import { execPlugin, joinArgs } from "./exec.ts";
import type {
  Command,
  NetConf,
  Plugin,
  PluginContext,
  Result,
} from "./plugin.ts";
import { loadPlugin } from "./registry.ts";
import {
  requireSupported,
  requireVerb,
  resultFor,
  upgradeResult,
} from "./version.ts";

/**
 * Runs `command` of plugin `type` with `config` (its `type` set to `type`).
 * Returns the result for ADD, undefined for the other verbs.
 */
export async function delegate(
  type: string,
  command: Command,
  config: NetConf,
  ctx: PluginContext,
): Promise<Result | undefined> {
  requireSupported(config.cniVersion);
  requireVerb(command, config.cniVersion);
  const plugin = await loadPlugin(type);
  if (!plugin) return await execDelegate(type, command, config, ctx);
  const conf: NetConf = { ...config, type };
  if (conf.prevResult) conf.prevResult = upgradeResult(conf.prevResult);
  return await callPlugin(plugin, { ...ctx, command, config: conf });
}

/** Runs `ctx.command` of an in-process plugin: the result for ADD, else undefined. */
export async function callPlugin(
  plugin: Plugin,
  ctx: PluginContext,
): Promise<Result | undefined> {
  switch (ctx.command) {
    case "ADD":
      return await plugin.add(ctx);
    case "DEL":
      await plugin.del(ctx);
      return undefined;
    case "CHECK":
      await plugin.check(ctx);
      return undefined;
    case "GC":
      await plugin.gc?.(ctx);
      return undefined;
    case "STATUS":
      await plugin.status?.(ctx);
      return undefined;
    case "VERSION":
      return undefined;
  }
}

/** Runs plugin `type` as a process found on `ctx.path`, whatever its type. */
export async function execDelegate(
  type: string,
  command: Command,
  config: NetConf,
  ctx: PluginContext,
): Promise<Result | undefined> {
  const conf: NetConf = { ...config, type };
  if (conf.prevResult) conf.prevResult = upgradeResult(conf.prevResult);
  const wire: Record<string, unknown> = { ...conf };
  if (conf.prevResult) {
    wire.prevResult = resultFor(conf.prevResult, conf.cniVersion);
  }
  const out = await execPlugin(type, {
    command,
    containerId: ctx.containerId,
    netns: ctx.netns,
    ifname: ctx.ifname,
    args: joinArgs(ctx.args),
    path: ctx.path,
    env: ctx.env,
  }, JSON.stringify(wire));
  return command === "ADD" ? upgradeResult(out) : undefined;
}
