// The weft command line. Library code never exits; main() returns the code.
// Each command lives in its own file and is imported when it runs, so that
// `weft version` and `weft cni` stay light.

import { CommandError, UsageError } from "./errors.ts";

import { VERSION } from "./version.ts";

export { VERSION };

export const USAGE =
  `weft - the network of an edge Kubernetes cluster in one binary

Usage: weft <command> [flags]

Commands:
  server     run the control plane (and, unless --disable-agent, a local agent)
  agent      join a server and run the node's network (flannel, tunnel, CNI)
  demo       build a cluster of network namespaces on this machine and check it
  doctor     check this machine for what weft needs; --fix repairs what it can
  token      show the join tokens; forget a node's password
  cni        run a CNI conflist for a network namespace (what a runtime does)
  version    print the version

Run "weft <command> --help" for the flags of a command.
When started as flannel, bridge, host-local, portmap, bandwidth or loopback,
weft is that CNI plugin.`;

function versionLine(): string {
  return `weft version v${VERSION} (deno ${Deno.version.deno})`;
}

type Command = (args: string[], signal: AbortSignal) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  version: (args) => {
    if (args.length > 0) {
      throw new UsageError(`weft version: unexpected argument "${args[0]}"`);
    }
    console.log(versionLine());
    return Promise.resolve(0);
  },
  server: async (args, signal) =>
    (await import("./server.ts")).serverCommand(args, signal),
  agent: async (args, signal) =>
    (await import("./agent.ts")).agentCommand(args, signal),
  demo: async (args, signal) =>
    (await import("./demo/mod.ts")).demoCommand(args, signal),
  doctor: async (args) => (await import("./doctor/mod.ts")).doctorCommand(args),
  token: async (args) => (await import("./token.ts")).tokenCommand(args),
  cni: async (args) => {
    const { cniCommand } = await import("../cni/mod.ts");
    return await cniCommand(args);
  },
};

/** Runs `fn` with an AbortSignal that SIGINT/SIGTERM abort. */
async function withSignals(
  fn: (signal: AbortSignal) => Promise<number>,
): Promise<number> {
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  const sigs: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of sigs) Deno.addSignalListener(s, onSignal);
  try {
    return await fn(ac.signal);
  } finally {
    for (const s of sigs) Deno.removeSignalListener(s, onSignal);
  }
}

export async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  if (cmd === undefined || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === "--version" || cmd === "-v") {
    console.log(versionLine());
    return 0;
  }
  const command = COMMANDS[cmd];
  if (!command) {
    console.error(`weft: unknown command "${cmd}"; see "weft --help"`);
    return 2;
  }
  if (
    (cmd === "server" || cmd === "agent") &&
    !rest.includes("--help") && !rest.includes("-h")
  ) {
    // Long-running roles restart themselves once with weft's memory
    // settings (V8 and malloc flags read only at start); see memory.ts.
    (await import("./memory.ts")).applyMemorySettings(cmd);
  }
  try {
    if (cmd === "server" || cmd === "agent" || cmd === "demo") {
      return await withSignals((signal) => command(rest, signal));
    }
    return await command(rest, new AbortController().signal);
  } catch (e) {
    if (e instanceof UsageError || e instanceof CommandError) {
      console.error(e.message);
      return e.exitCode;
    }
    const err = e as Error;
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
    console.error(`weft ${cmd}: ${err.message ?? String(e)}${cause}`);
    return 1;
  }
}
