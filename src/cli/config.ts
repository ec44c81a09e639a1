// Settings of `weft server` / `weft agent` from three layers, K3s style:
// the config file (flag names as keys) < WEFT_* environment < flags.
// Every value is checked; a problem is one line naming the flag (or the
// config key and its line) and exit code 2.

import { CIDR } from "../net/mod.ts";
import { UsageError } from "./errors.ts";
import { checkValue, parseFlags, splitList, type Value } from "./flag_args.ts";
import {
  BACKENDS,
  CNI_CHAINS,
  EGRESS_MODES,
  type FlagDef,
  flagDefault,
  flagsFor,
} from "./flags.ts";

export type Backend = typeof BACKENDS[number];
export type EgressMode = typeof EGRESS_MODES[number];
export type CniChain = typeof CNI_CHAINS[number];

export interface WeftConfig {
  command: "server" | "agent";
  configFile?: string;
  dataDir: string;
  nodeName: string;
  nodeIP: string[];
  nodeExternalIP: string[];
  flannelIface?: string;
  flannelConf?: string;
  flannelCniConf?: string;
  cniChain: CniChain;
  server?: string;
  token?: string;
  tokenFile?: string;
  clusterCIDR: string[];
  serviceCIDR: string[];
  clusterDNS: string;
  clusterDomain: string;
  flannelBackend: Backend;
  flannelIPv6Masq: boolean;
  flannelExternalIP: boolean;
  egressSelectorMode: EgressMode;
  disableNetworkPolicy: boolean;
  disableAgent: boolean;
  writeKubeconfig: string;
  writeKubeconfigMode: number;
  tlsSAN: string[];
  datastoreEndpoint?: string;
  datastoreCAFile?: string;
  datastoreCertFile?: string;
  datastoreKeyFile?: string;
  httpsListenPort: number;
  bindAddress: string;
  advertiseAddress?: string;
  /** Where each value came from, for `--help`-style diagnostics and tests. */
  sources: Record<string, "default" | "file" | "env" | "flag">;
}

export interface ResolveInput {
  command: "server" | "agent";
  args: string[];
  env?: Record<string, string | undefined>;
  /** Reads the config file; injectable for tests. */
  readFile?: (path: string) => string | null;
  hostname?: () => string;
}

function readIfExists(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new UsageError(
      `cannot read config file ${path}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

/** The 1-based line of a top-level key in YAML text, or 0 (plain string
 * matching: the key is the file's text, never a pattern). */
function lineOf(text: string, key: string): number {
  const lines = text.split("\n");
  const i = lines.findIndex((l) =>
    ["", '"', "'"].some((q) => {
      const head = q + key + q;
      return l.startsWith(head) &&
        l.slice(head.length).trimStart().startsWith(":");
    })
  );
  return i + 1;
}

async function fileValues(
  path: string,
  text: string,
  defs: FlagDef[],
): Promise<Map<string, Value>> {
  // YAML is loaded only when there is a config file to read.
  const { parse: parseYaml } = await import("@std/yaml");
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    const line = (e as { line?: number }).line;
    const msg = (e as Error).message.split("\n")[0];
    throw new UsageError(
      `config file ${path}${line ? ` line ${line}` : ""}: ${msg}`,
      { cause: e },
    );
  }
  const out = new Map<string, Value>();
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new UsageError(
      `config file ${path}: expected a mapping of flag names to values`,
    );
  }
  const byName = new Map(defs.map((d) => [d.name, d]));
  for (const [key, raw] of Object.entries(doc as Record<string, unknown>)) {
    const where = `config file ${path} line ${lineOf(text, key)}`;
    const d = byName.get(key);
    if (!d || key === "config") {
      throw new UsageError(`${where}: unknown key "${key}"`);
    }
    const bad = (want: string) =>
      new UsageError(
        `${where}: key "${key}" must be ${want}, got ${JSON.stringify(raw)}`,
      );
    if (d.kind === "bool") {
      if (typeof raw !== "boolean") throw bad("true or false");
      out.set(key, raw);
    } else if (d.kind === "list") {
      if (typeof raw === "string") out.set(key, splitList(raw));
      else if (
        Array.isArray(raw) &&
        raw.every((x) => typeof x === "string" || typeof x === "number")
      ) {
        out.set(key, raw.map(String));
      } else throw bad("a string or a list of strings");
    } else if (d.kind === "int") {
      if (typeof raw !== "number" && typeof raw !== "string") {
        throw bad("a number");
      }
      out.set(key, String(raw));
    } else {
      if (typeof raw !== "string" && typeof raw !== "number") {
        throw bad("a string");
      }
      out.set(key, String(raw));
    }
  }
  return out;
}

function envValues(
  defs: FlagDef[],
  env: Record<string, string | undefined>,
): Map<string, Value> {
  const out = new Map<string, Value>();
  for (const d of defs) {
    const v = d.env ? env[d.env] : undefined;
    if (v === undefined || v === "") continue;
    if (d.kind === "bool") {
      if (!/^(true|false|1|0)$/.test(v)) {
        throw new UsageError(
          `environment ${d.env}: "${v}" must be true or false`,
        );
      }
      out.set(d.name, v === "true" || v === "1");
    } else if (d.kind === "list") out.set(d.name, splitList(v));
    else out.set(d.name, v);
  }
  return out;
}

/** Resolves the settings of `weft server|agent` from file, env and flags. */
export async function resolveConfig(input: ResolveInput): Promise<WeftConfig> {
  const { command } = input;
  const env = input.env ?? Deno.env.toObject();
  const defs = flagsFor(command);
  const flags = parseFlags(command, defs, input.args);
  const envs = envValues(defs, env);
  const explicitPath = (flags.get("config") ?? envs.get("config")) as
    | string
    | undefined;
  const path = explicitPath ?? flagDefault("config") as string;
  const text = (input.readFile ?? readIfExists)(path);
  if (text === null && explicitPath !== undefined) {
    throw new UsageError(`config file ${path} does not exist`);
  }
  const file = text === null ? new Map() : await fileValues(path, text, defs);

  const values = new Map<string, Value>();
  const sources: WeftConfig["sources"] = {};
  for (const d of defs) {
    if (d.default !== undefined) {
      values.set(d.name, d.default);
      sources[d.name] = "default";
    }
    for (
      const [layer, m] of [["file", file], ["env", envs], [
        "flag",
        flags,
      ]] as const
    ) {
      if (m.has(d.name)) {
        values.set(d.name, m.get(d.name)!);
        sources[d.name] = layer;
      }
    }
    checkValue(command, d, values.get(d.name), sources[d.name]);
  }
  return build(
    command,
    values,
    sources,
    text === null ? undefined : path,
    input,
  );
}

/** The 10th address of the first service CIDR, as K3s defaults
 * --cluster-dns (10.43.0.10; fd43::a for --service-cidr fd43::/112). */
export function defaultClusterDNS(serviceCIDRs: string[]): string {
  const c = CIDR.tryParse(serviceCIDRs[0] ?? "");
  return c && c.size > 10n ? c.first().add(10).toString() : "10.43.0.10";
}

function build(
  command: "server" | "agent",
  values: Map<string, Value>,
  sources: WeftConfig["sources"],
  configFile: string | undefined,
  input: ResolveInput,
): WeftConfig {
  // A flag outside the command's scope still has its table default.
  const value = (k: string) => values.get(k) ?? flagDefault(k);
  const str = (k: string) => value(k) as string | undefined;
  const list = (k: string) => (value(k) as string[] | undefined) ?? [];
  const bool = (k: string) => (value(k) as boolean | undefined) ?? false;
  const hostname = (input.hostname ?? Deno.hostname)().toLowerCase();
  if (command === "agent" && !str("server")) {
    throw new UsageError(
      "weft agent: --server (or WEFT_URL) is required, like https://10.0.0.1:6443",
    );
  }
  if (command === "agent" && !str("token") && !str("token-file")) {
    throw new UsageError(
      "weft agent: --token or --token-file (or WEFT_TOKEN) is required; the server keeps it in <data-dir>/server/agent-token",
    );
  }
  return {
    command,
    configFile,
    dataDir: str("data-dir")!,
    nodeName: str("node-name") ?? hostname,
    nodeIP: list("node-ip"),
    nodeExternalIP: list("node-external-ip"),
    flannelIface: str("flannel-iface"),
    flannelConf: str("flannel-conf"),
    flannelCniConf: str("flannel-cni-conf"),
    cniChain: str("cni-chain") as CniChain,
    server: str("server"),
    token: str("token"),
    tokenFile: str("token-file"),
    clusterCIDR: command === "server" ? list("cluster-cidr") : [],
    serviceCIDR: command === "server" ? list("service-cidr") : [],
    clusterDNS: str("cluster-dns") !== undefined &&
        sources["cluster-dns"] !== "default"
      ? str("cluster-dns")!
      : defaultClusterDNS(list("service-cidr")),
    clusterDomain: str("cluster-domain")!,
    flannelBackend: str("flannel-backend") as Backend,
    flannelIPv6Masq: bool("flannel-ipv6-masq"),
    flannelExternalIP: bool("flannel-external-ip"),
    egressSelectorMode: str("egress-selector-mode") as EgressMode,
    disableNetworkPolicy: bool("disable-network-policy"),
    disableAgent: bool("disable-agent"),
    writeKubeconfig: str("write-kubeconfig")!,
    writeKubeconfigMode: parseInt(str("write-kubeconfig-mode")!, 8),
    tlsSAN: list("tls-san"),
    datastoreEndpoint: str("datastore-endpoint"),
    datastoreCAFile: str("datastore-cafile"),
    datastoreCertFile: str("datastore-certfile"),
    datastoreKeyFile: str("datastore-keyfile"),
    httpsListenPort: Number(value("https-listen-port")),
    bindAddress: str("bind-address")!,
    advertiseAddress: str("advertise-address"),
    sources,
  };
}

/** The --help text of `weft server` / `weft agent`, from the flag table. */
export function flagHelp(command: "server" | "agent"): string {
  const rows = flagsFor(command).map((d) => {
    const arg = d.kind === "bool"
      ? ""
      : d.kind === "list"
      ? " value[,value]"
      : " value";
    const dflt = d.default === undefined || d.default === false
      ? ""
      : ` (default ${
        Array.isArray(d.default) ? d.default.join(",") : d.default
      })`;
    const env = d.env ? ` [$${d.env}]` : "";
    return [`  --${d.name}${arg}`, `${d.help}${dflt}${env}`];
  });
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([a, b]) => a.padEnd(w) + b).join("\n");
}
