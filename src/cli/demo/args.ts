// `weft demo`'s flags: one table (flags.ts conventions) that drives the
// parser, the value checks, the defaults and the --help text.

import { BACKEND_NAMES, orList } from "../../flannel/backend/names.ts";
import { checkValue, parseFlags, type Value } from "../flag_args.ts";
import type { FlagDef } from "../flags.ts";
import type { Stack } from "./stack.ts";

/** The backends the demo can check: those that carry pod traffic. */
export const DEMO_BACKENDS = BACKEND_NAMES.filter((b) => b.overlay).map((b) =>
  b.flag
);
export type DemoBackend = typeof DEMO_BACKENDS[number];
export const DEMO_RUNTIMES = ["cni", "containerd"] as const;
export type DemoRuntime = typeof DEMO_RUNTIMES[number];

export interface DemoOptions {
  nodes: number;
  backend: DemoBackend;
  check: boolean;
  timeoutMs: number;
  prefix: string;
  /** How pods are made (default "cni"). */
  runtime?: DemoRuntime;
  /** Address families (default ipv4); see stack.ts. */
  stack?: Stack;
}

const oneOf = (values: readonly string[]) => (v: string) =>
  values.includes(v) ? null : `must be ${orList(values)}`;

const DEMO_FLAGS: FlagDef[] = [
  {
    name: "check",
    kind: "bool",
    scope: "both",
    help: "build, check once, tear down; exit 0 when all pass",
  },
  {
    name: "nodes",
    kind: "int",
    scope: "both",
    arg: "N",
    default: 3,
    help: "number of nodes (default 3, 1-50)",
    check: (v) => {
      const n = Number(v);
      return Number.isInteger(n) && n >= 1 && n <= 50
        ? null
        : "must be a whole number from 1 to 50";
    },
  },
  {
    name: "backend",
    kind: "string",
    scope: "both",
    arg: "B",
    default: DEMO_BACKENDS[0],
    help: `flannel backend: ${
      orList(DEMO_BACKENDS.map((b, i) => i === 0 ? `${b} (default)` : b))
    }`,
    check: oneOf(DEMO_BACKENDS),
  },
  {
    name: "runtime",
    kind: "string",
    scope: "both",
    arg: "R",
    default: "cni",
    help: `how pods are made: cni (default: "weft cni add" into a
netns) or containerd (busybox containers started by
"ctr run --cni" on each node's own containerd)`,
    check: oneOf(DEMO_RUNTIMES),
  },
  {
    name: "ipv6",
    kind: "bool",
    scope: "both",
    help: `single-stack IPv6: the nodes' uplinks have no IPv4 address
(server --node-ip fd77::1 --cluster-cidr fd42::/56
--service-cidr fd43::/112; agents detect their node IP)`,
  },
  {
    name: "dual-stack",
    kind: "bool",
    scope: "both",
    help: "IPv4 and IPv6 (IPv4 primary); with --ipv6, IPv6 primary",
  },
  {
    name: "timeout",
    kind: "string",
    scope: "both",
    arg: "S",
    default: "240",
    help: "seconds to wait for the cluster to come up (default 240)",
    check: (v) => Number(v) > 0 ? null : "must be a number of seconds",
  },
  {
    name: "ns-prefix",
    kind: "string",
    scope: "both",
    arg: "P",
    default: "weft-demo-",
    help: "namespace name prefix (default weft-demo-; tests use weft-t-...)",
    check: (v) =>
      /^weft-[a-z0-9-]{0,20}$/.test(v)
        ? null
        : `must start with "weft-" (lowercase letters, digits, '-')`,
  },
  {
    name: "clean",
    kind: "bool",
    scope: "both",
    help: "remove namespaces left by a crashed demo, then exit",
  },
  { name: "help", kind: "bool", scope: "both", help: "this text" },
];

const HELP_COLUMN = 23;

function flagLines(): string {
  return DEMO_FLAGS.map((d) => {
    const head = `  --${d.name}${d.arg ? ` ${d.arg}` : ""}`.padEnd(HELP_COLUMN);
    return head + d.help.split("\n").join(`\n${" ".repeat(HELP_COLUMN)}`);
  }).join("\n");
}

export const DEMO_HELP = `Usage: weft demo [--check] [--nodes N] [--backend ${
  DEMO_BACKENDS.join("|")
}]
                 [--runtime cni|containerd] [--ipv6] [--dual-stack]

Builds a weft cluster on this machine: an underlay bridge and N nodes, each
its own network and mount namespace, a "weft server" on node1 and a
"weft agent" on every other node (real processes), two pods per node made
through the installed CNI chain, then checks pod to pod across nodes, pod to
node, and the server to each agent through its tunnel.

Flags:
${flagLines()}

Needs root. Ctrl-C tears everything down.`;

export function parseDemoArgs(
  args: string[],
): DemoOptions & { clean: boolean; help: boolean } {
  const given = parseFlags("demo", DEMO_FLAGS, args);
  const values = new Map<string, Value>();
  for (const d of DEMO_FLAGS) {
    const v = given.get(d.name) ?? d.default;
    if (v === undefined) continue;
    checkValue("demo", d, v, "flag");
    values.set(d.name, v);
  }
  const on = (name: string) => values.get(name) === true;
  return {
    nodes: Number(values.get("nodes")),
    backend: values.get("backend") as DemoBackend,
    runtime: values.get("runtime") as DemoRuntime,
    check: on("check"),
    timeoutMs: Number(values.get("timeout")) * 1000,
    prefix: String(values.get("ns-prefix")),
    stack: on("dual-stack")
      ? (on("ipv6") ? "dual6" : "dual")
      : (on("ipv6") ? "ipv6" : "ipv4"),
    clean: on("clean"),
    help: on("help"),
  };
}
