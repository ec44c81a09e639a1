// Plugin names -> lazy imports. Only the plugin that runs is loaded, so a
// `flannel` start never parses portmap or bandwidth unless it delegates.
// The names are argv0.ts's CNI_PLUGINS (the one list, tiny so the start path
// reads it first); this table needs a row for each, checked by the compiler.

import { CNI_PLUGINS, type CniPluginName } from "./argv0.ts";
import type { Plugin } from "./plugin.ts";

export interface PluginModule {
  plugin: Plugin;
}

export const REGISTRY: Readonly<
  Record<CniPluginName, () => Promise<PluginModule>>
> = {
  flannel: () => import("./flannel/mod.ts"),
  bridge: () => import("./bridge/mod.ts"),
  "host-local": () => import("./host_local/mod.ts"),
  portmap: () => import("./portmap/mod.ts"),
  bandwidth: () => import("./bandwidth/mod.ts"),
  loopback: () => import("./loopback/mod.ts"),
};

/** The names of the plugins built into weft. */
export const PLUGIN_NAMES: readonly string[] = CNI_PLUGINS;

/** Loads a built-in plugin, or returns null when `name` is not one. */
export async function loadPlugin(name: string): Promise<Plugin | null> {
  const load = Object.hasOwn(REGISTRY, name)
    ? REGISTRY[name as CniPluginName]
    : undefined;
  if (!load) return null;
  return (await load()).plugin;
}
