// The CNI side of weft: the plugin skeleton, the plugin contract, delegation
// and (loaded lazily) the runtime behind `weft cni`. This module is on the
// pod-start hot path: it must not import the CLI, hono, YAML or the API.

export {
  asCniError,
  CniError,
  type Command,
  CURRENT_VERSION,
  type DNS,
  ErrorCode,
  type Interface,
  type IpamConf,
  type IPConfig,
  type NetConf,
  type Plugin,
  type PluginContext,
  type Result,
  type Route,
  SUPPORTED_VERSIONS,
} from "./plugin.ts";
export { type PluginIO, runPlugin } from "./skel.ts";
export {
  appendOpRecord,
  MAX_OPS_LOG,
  type OpRecord,
  OPS_LOG,
  podOf,
} from "./op_record.ts";
export { loadPlugin, PLUGIN_NAMES, type PluginModule } from "./registry.ts";
export {
  compareVersions,
  requireSupported,
  requireVerb,
  resultFor,
  upgradeResult,
} from "./version.ts";
export { execPlugin, findPlugin, joinArgs } from "./exec.ts";
export { delegate, execDelegate } from "./delegate.ts";

/**
 * `weft cni add|del|check|gc|status <conflist> <netns> [flags]`: runs a
 * conflist the way a container runtime does; returns the exit code.
 */
export async function cniCommand(args: string[]): Promise<number> {
  const { cniCommand: run } = await import("./runtime/mod.ts");
  return await run(args);
}
