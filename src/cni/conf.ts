// Reading a plugin's network config: the error for a bad config, an
// iptables/nftables backend key, and the prevResult a chained plugin needs.

import {
  CniError,
  ErrorCode,
  type NetConf,
  type PluginContext,
  type Result,
} from "./plugin.ts";

/** A CniError with the spec's "invalid network config" code (7). */
export function invalidConfig(msg: string): CniError {
  return new CniError(ErrorCode.InvalidNetworkConfig, msg);
}

/** `net[key]`: "iptables", "nftables", or undefined when unset/null. */
export function backendKey(
  net: NetConf,
  key: string,
): "iptables" | "nftables" | undefined {
  const v = net[key];
  if (v === undefined || v === null) return undefined;
  if (v !== "iptables" && v !== "nftables") {
    throw invalidConfig(
      `"${key}" must be "iptables" or "nftables", got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/** The prevResult of a chained plugin (portmap, bandwidth); code 7 without. */
export function chainedPrevResult(ctx: PluginContext): Result {
  const prev = ctx.config.prevResult;
  if (!prev) throw invalidConfig("must be called as chained plugin");
  return prev;
}

/**
 * The attachments a GC call keeps: `cni.dev/valid-attachments` (or the older
 * `cni.dev/attachments`); an entry's missing field reads as "".
 */
export function gcAttachments(
  net: NetConf,
): { containerId: string; ifname: string }[] {
  const raw = net["cni.dev/valid-attachments"] ??
    net["cni.dev/attachments"] ?? [];
  if (!Array.isArray(raw)) {
    throw invalidConfig(`"cni.dev/valid-attachments" must be a list`);
  }
  return raw.map((a) => ({
    containerId: String(a?.containerID ?? ""),
    ifname: String(a?.ifname ?? ""),
  }));
}
