// The contract between the CNI skeleton and each plugin: the context a plugin
// is called with, the result it returns (always in the CNI 1.1.0 shape; the
// skeleton converts when printing), and the one error type for every failure.

/** The CNI verbs. */
export type Command = "ADD" | "DEL" | "CHECK" | "GC" | "STATUS" | "VERSION";

/** Error codes of the CNI specification. */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IOFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  InvalidNetns: 8,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  Internal: 999,
} as const;

/** A CNI failure; the skeleton prints it as the spec's error JSON and exits 1. */
export class CniError extends Error {
  override name = "CniError";
  constructor(
    readonly code: number,
    message: string,
    readonly details?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** The spec's error object. */
  toJSON(cniVersion: string): Record<string, unknown> {
    const out: Record<string, unknown> = {
      cniVersion,
      code: this.code,
      msg: this.message,
    };
    if (this.details) out.details = this.details;
    return out;
  }
}

/** Wraps any thrown value as a CniError (an existing CniError passes). */
export function asCniError(err: unknown, code: number = ErrorCode.Internal) {
  if (err instanceof CniError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new CniError(code, msg, undefined, { cause: err });
}

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig {
  /** CIDR with the host part: "10.42.1.5/24". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A result in the CNI 1.1.0 shape. */
export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}

/** `ipam` of a network config; plugin keys beyond `type` are free. */
export interface IpamConf {
  type: string;
  [key: string]: unknown;
}

/** The parsed stdin of a plugin. */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  capabilities?: Record<string, boolean>;
  ipam?: IpamConf;
  dns?: DNS;
  /** Already upgraded to the 1.1.0 shape by the skeleton. */
  prevResult?: Result;
  runtimeConfig?: Record<string, unknown>;
  args?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface PluginContext {
  command: Command;
  containerId: string;
  /** CNI_NETNS; "" when not given (allowed for DEL, GC, STATUS). */
  netns: string;
  ifname: string;
  /** CNI_ARGS as a map ("K=V;K2=V2"). */
  args: Record<string, string>;
  /** CNI_PATH split on ":". */
  path: string[];
  config: NetConf;
  /** The full environment the plugin was started with. */
  env: Record<string, string>;
  /** Diagnostics (stderr for an exec'd plugin). */
  log?: (msg: string) => void;
  /**
   * Takes work the answer does not depend on - a durability fsync, the
   * kernel's slow teardown of a deleted link - when the caller can run it
   * after answering: the agent serving the operation runs it right after
   * the answer is sent and before its next operation. Absent (a plugin
   * process, the in-process runtime), the work runs at once: see later().
   */
  defer?: (work: Deferred) => void;
}

/** Work handed to PluginContext.defer. */
export type Deferred = () => void | Promise<void>;

/**
 * Runs `work` after the answer when the caller defers (ctx.defer), else now.
 * Deferred work cannot fail the operation: its error is the deferrer's to
 * log; run now, it throws as usual.
 */
export async function later(
  ctx: Pick<PluginContext, "defer">,
  work: Deferred,
): Promise<void> {
  if (ctx.defer) ctx.defer(work);
  else await work();
}

export interface Plugin {
  add(ctx: PluginContext): Promise<Result>;
  del(ctx: PluginContext): Promise<void>;
  check(ctx: PluginContext): Promise<void>;
  gc?(ctx: PluginContext): Promise<void>;
  status?(ctx: PluginContext): Promise<void>;
}

/** The versions every weft plugin speaks. */
export const SUPPORTED_VERSIONS = [
  "0.1.0",
  "0.2.0",
  "0.3.0",
  "0.3.1",
  "0.4.0",
  "1.0.0",
  "1.1.0",
] as const;

export const CURRENT_VERSION = "1.1.0";
