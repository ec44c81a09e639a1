// Runs a netfilter tool, optionally inside a network namespace (by path,
// through nsenter, so a bind-mounted /run/netns/<name> or /proc/<pid>/ns/net
// both work).

import { NetfilterError } from "./errors.ts";

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Where a netfilter operation runs: the caller's netns when `netns` is unset. */
export interface NetfilterOptions {
  /** Path of the network namespace to run in (e.g. /run/netns/x). */
  netns?: string;
}

const dec = new TextDecoder();

/** Runs `cmd` (in `opts.netns`), feeding `stdin`; never throws on exit code. */
export async function runTool(
  cmd: string[],
  opts: NetfilterOptions & { stdin?: string } = {},
): Promise<ToolResult> {
  const argv = opts.netns ? ["nsenter", `--net=${opts.netns}`, ...cmd] : cmd;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    throw new NetfilterError(
      `cannot run ${argv[0]}: ${(err as Error).message}`,
      argv,
      -1,
      "",
      { cause: err },
    );
  }
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  // The streams are read here rather than with child.output(): on a spawned
  // child, output() keeps ~100 KB of native memory per process in Deno 2.9,
  // and flannel checks its rules every 5 s (an agent grew ~3 MB a minute).
  const [stdout, stderr, status] = await Promise.all([
    new Response(child.stdout).arrayBuffer(),
    new Response(child.stderr).arrayBuffer(),
    child.status,
  ]);
  return {
    code: status.code,
    stdout: dec.decode(stdout),
    stderr: dec.decode(stderr),
  };
}

/** Runs `cmd` and throws a NetfilterError unless it exits 0; returns stdout. */
export async function mustRun(
  cmd: string[],
  opts: NetfilterOptions & { stdin?: string } = {},
): Promise<string> {
  const r = await runTool(cmd, opts);
  if (r.code !== 0) {
    const where = opts.netns ? ` (in ${opts.netns})` : "";
    throw new NetfilterError(
      `${cmd.join(" ")}${where} exited ${r.code}: ${r.stderr.trim()}`,
      cmd,
      r.code,
      r.stderr,
    );
  }
  return r.stdout;
}
