// `weft cni add|del|check|gc|status <conflist> <netns> [flags]`: the runtime
// from the command line, for tests, the demo and operators.

import { CniError, ErrorCode, type Result } from "../plugin.ts";
import { resultFor } from "../version.ts";
import { DEFAULT_CACHE_DIR } from "./cache.ts";
import { loadConfList } from "./conflist.ts";
import { type Attachment, CniRuntime, type RuntimeConf } from "./runtime.ts";

export const USAGE =
  `usage: weft cni add|del|check|gc|status <conflist> [<netns-path-or-name>]
  --container-id ID     attachment's container id (default: weft-<netns name>)
  --ifname NAME         interface in the netns (default eth0)
  --port-mapping H:C[/proto]   or HOSTIP:H:C[/proto]; repeatable (portMappings)
  --ip ADDR             requested IP (ips capability); repeatable
  --mac MAC             requested MAC (mac capability)
  --capability K=JSON   any capability argument, e.g.
                        bandwidth='{"ingressRate":1000000,"ingressBurst":100000}'
  --args K=V            CNI_ARGS pair; repeatable
  --valid ID[/IFNAME]   gc: an attachment to keep; repeatable
  --cni-bin-dir DIR     where to find plugins weft does not have; repeatable
                        (default /opt/cni/bin)
  --cache-dir DIR       result cache root (default ${DEFAULT_CACHE_DIR})`;

export interface CniArgs {
  verb: "add" | "del" | "check" | "gc" | "status";
  conflist: string;
  netns: string;
  containerId: string;
  ifname: string;
  portMappings: Record<string, unknown>[];
  ips: string[];
  mac?: string;
  capabilities: Record<string, unknown>;
  cniArgs: [string, string][];
  valid: Attachment[];
  binDirs: string[];
  cacheDir: string;
}

export class UsageError extends Error {
  override name = "UsageError";
}

const VERBS = ["add", "del", "check", "gc", "status"] as const;

/** Parses `H:C[/proto]` or `HOSTIP:H:C[/proto]`. */
export function parsePortMapping(text: string): Record<string, unknown> {
  const [ports, proto = "tcp"] = text.split("/");
  const parts = ports.split(":");
  const hostIP = parts.length > 2 ? parts.slice(0, -2).join(":") : undefined;
  const [h, c] = parts.slice(-2);
  const port = (s: string | undefined) => {
    const n = Number(s);
    return s && /^\d+$/.test(s) && n >= 1 && n <= 65535 ? n : null;
  };
  const hostPort = port(h), containerPort = port(c);
  if (
    parts.length < 2 || hostPort === null || containerPort === null ||
    !["tcp", "udp", "sctp"].includes(proto)
  ) {
    throw new UsageError(
      `invalid --port-mapping "${text}": want HOSTPORT:CONTAINERPORT[/tcp|udp|sctp]`,
    );
  }
  const m: Record<string, unknown> = {
    hostPort,
    containerPort,
    protocol: proto,
  };
  if (hostIP) m.hostIP = hostIP.replace(/^\[|\]$/g, "");
  return m;
}

export function parseCniArgs(argv: string[]): CniArgs {
  const pos: string[] = [];
  const out: Omit<CniArgs, "verb" | "conflist" | "netns"> = {
    containerId: "",
    ifname: "eth0",
    portMappings: [],
    ips: [],
    capabilities: {},
    cniArgs: [],
    valid: [],
    binDirs: [],
    cacheDir: DEFAULT_CACHE_DIR,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) {
      pos.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const flag = eq < 0 ? a : a.slice(0, eq);
    const value = () => {
      if (eq >= 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--container-id":
        out.containerId = value();
        break;
      case "--ifname":
        out.ifname = value();
        break;
      case "--port-mapping":
        out.portMappings.push(parsePortMapping(value()));
        break;
      case "--ip":
        out.ips.push(value());
        break;
      case "--mac":
        out.mac = value();
        break;
      case "--capability": {
        const kv = value();
        const e = kv.indexOf("=");
        let parsed: unknown;
        try {
          parsed = e > 0 ? JSON.parse(kv.slice(e + 1)) : undefined;
        } catch {
          parsed = undefined;
        }
        if (parsed === undefined) {
          throw new UsageError(`invalid --capability "${kv}": want KEY=JSON`);
        }
        out.capabilities[kv.slice(0, e)] = parsed;
        break;
      }
      case "--args": {
        const kv = value();
        const e = kv.indexOf("=");
        if (e <= 0) throw new UsageError(`invalid --args "${kv}": want K=V`);
        out.cniArgs.push([kv.slice(0, e), kv.slice(e + 1)]);
        break;
      }
      case "--valid": {
        const [id, ifname = "eth0"] = value().split("/");
        out.valid.push({ containerID: id, ifname });
        break;
      }
      case "--cni-bin-dir":
        out.binDirs.push(...value().split(":").filter((d) => d));
        break;
      case "--cache-dir":
        out.cacheDir = value();
        break;
      default:
        throw new UsageError(`unknown flag ${flag}`);
    }
  }
  const [verb, conflist, netnsArg = ""] = pos;
  if (!VERBS.includes(verb as CniArgs["verb"])) {
    throw new UsageError(
      `unknown verb "${verb ?? ""}": want one of ${VERBS.join(", ")}`,
    );
  }
  if (!conflist) throw new UsageError("missing <conflist>");
  if (pos.length > 3) throw new UsageError(`unexpected argument "${pos[3]}"`);
  const needsNetns = verb === "add" || verb === "check" || verb === "del";
  if (needsNetns && !netnsArg && verb !== "del") {
    throw new UsageError("missing <netns-path-or-name>");
  }
  const netns = netnsArg === "" || netnsArg.includes("/")
    ? netnsArg
    : `/run/netns/${netnsArg}`;
  if (needsNetns && !out.containerId) {
    const base = netns.slice(netns.lastIndexOf("/") + 1);
    if (!base) throw new UsageError("--container-id is needed without a netns");
    out.containerId = `weft-${base}`;
  }
  return {
    verb: verb as CniArgs["verb"],
    conflist,
    netns,
    ...out,
    binDirs: out.binDirs.length ? out.binDirs : ["/opt/cni/bin"],
  };
}

/** Runs the command; prints an ADD result as JSON; returns the exit code. */
export async function cniCommand(argv: string[]): Promise<number> {
  let args: CniArgs;
  try {
    if (argv.includes("--help") || argv.includes("-h")) {
      console.log(USAGE);
      return 0;
    }
    args = parseCniArgs(argv);
  } catch (err) {
    console.error(`weft cni: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const list = await loadConfList(args.conflist).catch((err) =>
    err as CniError
  );
  if (list instanceof CniError) return printError(list);
  const runtime = new CniRuntime({
    binDirs: args.binDirs,
    cacheDir: args.cacheDir,
  });
  const caps: Record<string, unknown> = { ...args.capabilities };
  if (args.portMappings.length) caps.portMappings = args.portMappings;
  if (args.ips.length) caps.ips = args.ips;
  if (args.mac) caps.mac = args.mac;
  const rt: RuntimeConf = {
    containerId: args.containerId,
    netns: args.netns,
    ifname: args.ifname,
    args: args.cniArgs,
    capabilityArgs: caps,
  };
  try {
    switch (args.verb) {
      case "add": {
        const result: Result = await runtime.add(list, rt);
        console.log(
          JSON.stringify(resultFor(result, list.cniVersion), null, 2),
        );
        break;
      }
      case "check":
        await runtime.check(list, rt);
        break;
      case "del":
        await runtime.del(list, rt);
        break;
      case "gc":
        await runtime.gc(list, args.valid);
        break;
      case "status":
        await runtime.status(list);
        break;
    }
    return 0;
  } catch (err) {
    return printError(
      err instanceof CniError
        ? err
        : new CniError(ErrorCode.Internal, (err as Error).message),
    );
  }
}

function printError(err: CniError): number {
  console.log(JSON.stringify(err.toJSON("1.1.0"), null, 2));
  console.error(
    `weft cni: ${err.message}${err.details ? ` (${err.details})` : ""}`,
  );
  return 1;
}
