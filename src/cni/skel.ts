// The plugin skeleton: what every exec'd plugin does before and after its
// own work - environment, stdin, version negotiation, error JSON.

import {
  CniError,
  type Command,
  CURRENT_VERSION,
  type Deferred,
  ErrorCode,
  type NetConf,
  type PluginContext,
  SUPPORTED_VERSIONS,
} from "./plugin.ts";
import { callPlugin } from "./delegate.ts";
import { readAllSync, writeAllSync } from "./files.ts";
import { jsonDepth } from "../util/json_depth.ts";
import { appendOpRecord, OPS_LOG, podOf } from "./op_record.ts";
import { MAX_STDIN } from "./socket.ts";
import { loadPlugin } from "./registry.ts";
import {
  requireSupported,
  requireVerb,
  resultFor,
  upgradeResult,
} from "./version.ts";
import {
  parseCniArgs,
  validateContainerId,
  validateIfname,
  validateNetworkName,
} from "./validate.ts";

export const WEFT_CNI_VERSION = "v0.1.0";

/** Network configs are shallow; deeper input is refused before anything
 * walks it recursively (delegation clones the config). */
const MAX_CONFIG_DEPTH = 64;

const COMMANDS: readonly Command[] = [
  "ADD",
  "DEL",
  "CHECK",
  "GC",
  "STATUS",
  "VERSION",
];

const REQUIRED: Record<Command, string[]> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
  GC: ["CNI_PATH"],
  STATUS: ["CNI_PATH"],
  VERSION: [],
};

/** The streams a plugin run talks to (process stdio by default). */
export interface PluginIO {
  env: Record<string, string>;
  readStdin: () => Promise<Uint8Array>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Where the run's record for the agent goes (op_record.ts). */
  opsLog?: string;
  /** Takes the run's deferrable work (PluginContext.defer); absent, it
   * runs at once. */
  defer?: (work: Deferred) => void;
}

export { MAX_STDIN };

export function stdinTooLarge(): Promise<never> {
  return Promise.reject(
    new CniError(
      ErrorCode.DecodingFailure,
      "error reading network config",
      `stdin holds more than ${MAX_STDIN} bytes`,
    ),
  );
}

function processIO(): PluginIO {
  return {
    env: Deno.env.toObject(),
    readStdin: () => {
      const bytes = readAllSync(Deno.stdin, MAX_STDIN);
      return bytes ? Promise.resolve(bytes) : stdinTooLarge();
    },
    stdout: (t) => writeAllSync(Deno.stdout, new TextEncoder().encode(t)),
    stderr: (t) => writeAllSync(Deno.stderr, new TextEncoder().encode(t)),
    opsLog: OPS_LOG,
  };
}

/**
 * Process stdout/stderr with an environment and stdin already read (null:
 * stdin was larger than MAX_STDIN) - the thin client's in-process fallback.
 */
export function localIO(
  env: Record<string, string>,
  stdin: Uint8Array | null,
): PluginIO {
  return {
    ...processIO(),
    env,
    readStdin: () => stdin ? Promise.resolve(stdin) : stdinTooLarge(),
  };
}

/** Runs plugin `name` as an exec'd CNI plugin; returns the exit code. */
export async function runPlugin(
  name: string,
  io: PluginIO = processIO(),
): Promise<number> {
  let version = CURRENT_VERSION;
  const started = performance.now();
  const record = (ok: boolean, error?: string) => {
    const command = io.env.CNI_COMMAND ?? "";
    const known = (COMMANDS as readonly string[]).includes(command);
    if (!io.opsLog || !known || command === "VERSION") return;
    appendOpRecord(io.opsLog, {
      plugin: name,
      command,
      ok,
      ms: performance.now() - started,
      containerId: io.env.CNI_CONTAINERID,
      pod: podOf(io.env.CNI_ARGS),
      error,
    });
  };
  try {
    const cmd = io.env.CNI_COMMAND ?? "";
    if (cmd === "") {
      io.stderr(
        `CNI ${name} plugin weft ${WEFT_CNI_VERSION}\n` +
          `CNI protocol versions supported: ${SUPPORTED_VERSIONS.join(", ")}\n`,
      );
      return 0;
    }
    if (!(COMMANDS as readonly string[]).includes(cmd)) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        `unknown CNI_COMMAND: ${cmd}`,
      );
    }
    const command = cmd as Command;
    if (command === "VERSION") {
      io.stdout(
        JSON.stringify({
          cniVersion: CURRENT_VERSION,
          supportedVersions: SUPPORTED_VERSIONS,
        }) + "\n",
      );
      return 0;
    }
    const missing = REQUIRED[command].filter((k) => !io.env[k]);
    if (missing.length) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        `required env variables [${missing.join(",")}] missing`,
      );
    }
    const config = parseConfig(await io.readStdin(), name);
    version = config.cniVersion;
    const ctx = contextOf(command, config, io);
    const plugin = await loadPlugin(name);
    if (!plugin) {
      throw new CniError(ErrorCode.Internal, `unknown plugin "${name}"`);
    }
    const out = await callPlugin(plugin, ctx);
    if (out !== undefined) {
      const printed = resultFor(out, config.cniVersion);
      io.stdout(JSON.stringify(printed, null, 4) + "\n");
    }
    record(true);
    return 0;
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(
      ErrorCode.Internal,
      err instanceof Error ? err.message : String(err),
      undefined,
      { cause: err },
    );
    const v = SUPPORTED_VERSIONS.includes(version as typeof CURRENT_VERSION)
      ? version
      : CURRENT_VERSION;
    io.stdout(JSON.stringify(e.toJSON(v), null, 4) + "\n");
    record(false, e.details ? `${e.message}: ${e.details}` : e.message);
    return 1;
  }
}

/**
 * Decodes stdin: a JSON object with a valid name; version defaults to 0.1.0
 * and type to the plugin's own name (argv0 decides which plugin runs).
 */
export function parseConfig(bytes: Uint8Array, name: string): NetConf {
  const text = new TextDecoder().decode(bytes);
  if (jsonDepth(text, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      "error unmarshalling network config",
      `the config nests arrays and objects deeper than ${MAX_CONFIG_DEPTH} levels`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      "error unmarshalling network config",
      (err as Error).message,
      { cause: err },
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CniError(
      ErrorCode.DecodingFailure,
      "error unmarshalling network config",
      "network config is not a JSON object",
    );
  }
  const conf = raw as Record<string, unknown>;
  if (conf.cniVersion === undefined || conf.cniVersion === "") {
    conf.cniVersion = "0.1.0";
  }
  if (typeof conf.cniVersion !== "string") {
    throw new CniError(
      ErrorCode.DecodingFailure,
      "error unmarshalling network config",
      `cniVersion must be a string, not ${JSON.stringify(conf.cniVersion)}`,
    );
  }
  validateNetworkName(conf.name);
  if (conf.type === undefined || conf.type === "") conf.type = name;
  if (typeof conf.type !== "string") {
    throw new CniError(
      ErrorCode.InvalidNetworkConfig,
      `invalid plugin type ${JSON.stringify(conf.type)}`,
    );
  }
  return conf as NetConf;
}

function contextOf(
  command: Command,
  config: NetConf,
  io: PluginIO,
): PluginContext {
  const env = io.env;
  const containerId = env.CNI_CONTAINERID ?? "";
  const ifname = env.CNI_IFNAME ?? "";
  if (command === "ADD" || command === "CHECK" || command === "DEL") {
    validateContainerId(containerId);
    validateIfname(ifname);
  }
  requireSupported(config.cniVersion);
  requireVerb(command, config.cniVersion);
  if (config.prevResult !== undefined && config.prevResult !== null) {
    config.prevResult = upgradeResult(config.prevResult);
  } else {
    delete config.prevResult;
  }
  const netns = env.CNI_NETNS ?? "";
  if (netns && command !== "GC" && command !== "STATUS") {
    checkNetns(netns, env.CNI_NETNS_OVERRIDE ?? "");
  }
  return {
    command,
    containerId,
    netns,
    ifname,
    args: parseCniArgs(env.CNI_ARGS ?? ""),
    path: (env.CNI_PATH ?? "").split(":").filter((p) => p !== ""),
    config,
    env,
    log: (msg) => io.stderr(msg + "\n"),
    defer: io.defer,
  };
}

/** Code 8 when CNI_NETNS is the plugin's own netns (unless overridden). */
function checkNetns(netns: string, override: string): void {
  if (override === "1" || override.toLowerCase() === "true") return;
  let target: Deno.FileInfo, own: Deno.FileInfo;
  try {
    target = Deno.statSync(netns);
    own = Deno.statSync("/proc/self/ns/net");
  } catch {
    return; // a missing netns is the plugin's to report
  }
  if (target.dev === own.dev && target.ino === own.ino) {
    throw new CniError(
      ErrorCode.InvalidNetns,
      "plugin's netns and netns from CNI_NETNS should not be the same",
      `CNI_NETNS=${netns}; set CNI_NETNS_OVERRIDE=1 to allow it`,
    );
  }
}
