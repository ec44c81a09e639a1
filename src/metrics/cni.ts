// CNI operations as the agent sees them (the plugin runs in an exec'd
// process or is served by the agent; neither loads prom-client): one call
// per operation. Label values are bounded to the plugin and command names
// weft knows.

import { cniOperationDuration, cniOperations } from "./weft.ts";

const PLUGINS = new Set([
  "flannel",
  "bridge",
  "host-local",
  "portmap",
  "bandwidth",
  "loopback",
]);
const COMMANDS = new Set(["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"]);

export interface CniOperation {
  /** The plugin's name (the conflist's first plugin for a chain). */
  plugin: string;
  /** CNI_COMMAND. */
  command: string;
  ok: boolean;
  seconds: number;
}

export function recordCniOperation(op: CniOperation): void {
  const plugin = PLUGINS.has(op.plugin) ? op.plugin : "other";
  const command = COMMANDS.has(op.command) ? op.command : "other";
  cniOperations.inc({ plugin, command, result: op.ok ? "success" : "error" });
  if (Number.isFinite(op.seconds) && op.seconds >= 0) {
    cniOperationDuration.observe({ plugin, command }, op.seconds);
  }
}
