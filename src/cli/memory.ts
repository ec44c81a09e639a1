// The memory settings `weft server` and `weft agent` run with. V8 reads its
// heap flags and glibc its arena count only when a process starts, so the
// command re-executes itself once with them (same pid, argv and stdio; the
// compiled binary also has COMMON_V8_FLAGS built in by scripts/compile.ts).
// Measured on a 2-node cluster (bench/footprint_bench.ts), with the rest of
// the footprint work (the agent's lean module graph, run.ts's release of
// the executable's pages and periodic GC and malloc trim) the agent went
// from ~77 to ~52 MB and the server from ~93 to ~70 MB; lite mode is ~6 MB
// of the agent's. The tunnel's throughput, mostly native work, showed no
// loss in tunnel_bench. Since the agent serves the CNI operations, lite
// mode costs them nothing measurable (bench/cni_bench.ts, inside the agent:
// ADD 3.5 vs 3.3 ms, DEL 10.8 vs 10.4 ms with the JIT: netlink, files and
// exec dominate). Today (CNI server, NetworkPolicy, metrics and events in
// the agent; its kube client over node:https, its tunnel over node:tls)
// the bench shows the agent at ~58 MB and the server at ~77 MB. An operator who wants the agent's optimizing
// compilers back sets DENO_V8_FLAGS=--no-lite-mode: flags given there come
// after these and win.

import { execSelf, selfArgv } from "../../ffi/mod.ts";
import { ensureBundle, SOURCE_ROOT_ENV, sourceRoot } from "./source_bundle.ts";

export type Role = "server" | "agent";

/** V8 flags of both roles, also built into the compiled binary. */
export const COMMON_V8_FLAGS = [
  // No GC helper threads (their stacks and malloc arenas); on heaps of
  // ~10 MB a GC on the main thread is short.
  "--single-threaded-gc",
  // gc(), for run.ts's periodic full collection: on a mostly idle daemon
  // V8 lets garbage pile up for minutes before its old space fills.
  "--expose-gc",
] as const;

/**
 * Each role's V8 flags. The agent runs control logic and a tunnel whose
 * data path is native (TLS, websocket framing): it gives up the JIT and a
 * large young generation. The server keeps both: its API builds and parses
 * large JSON documents (lists of thousands of nodes), which lite mode and
 * 1 MB semi-spaces made 1.5-3x slower in bench/api_bench.ts.
 */
export const MEMORY_V8_FLAGS: Record<Role, readonly string[]> = {
  agent: [
    // Ignition only, no JIT: no compiler code paged in, no code space.
    "--lite-mode",
    // A young generation of 2 x 1 MB instead of one growing to 2 x 16 MB.
    "--max-semi-space-size=1",
    ...COMMON_V8_FLAGS,
  ],
  server: [...COMMON_V8_FLAGS],
};

/** glibc's per-thread malloc arenas, capped (it allows 8 per core). */
export const MALLOC_ARENA_MAX = "2";

/**
 * The environment `role` should run with, or null when this process
 * already does (DENO_V8_FLAGS begins with the role's flags). The operator's
 * own DENO_V8_FLAGS and MALLOC_ARENA_MAX are kept, theirs after ours.
 */
export function tunedEnv(
  env: Record<string, string>,
  role: Role,
): Record<string, string> | null {
  const ours = MEMORY_V8_FLAGS[role].join(",");
  const have = env.DENO_V8_FLAGS ?? "";
  if (have === ours || have.startsWith(`${ours},`)) return null;
  return {
    ...env,
    DENO_V8_FLAGS: have ? `${ours},${have}` : ours,
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? MALLOC_ARENA_MAX,
  };
}

/**
 * The argv to re-execute with. From source (`deno run ... main.ts`):
 * main.ts becomes `bundle` when one is given (source_bundle.ts; the deno
 * flags stay, deno.json's import map resolves its npm imports), and Deno's
 * code cache is turned off (`--no-code-cache`): a cached module brings the
 * bytecode of all its functions into the heap at once, where compiling them
 * on first call brings only those that run. A compiled weft is unchanged.
 */
export function tunedArgv(
  argv: string[],
  bundle: string | null = null,
): string[] {
  if (argv[1] !== "run") return argv;
  let out = argv;
  const main = argv.findIndex((a, k) => k > 1 && /(^|\/)main\.ts$/.test(a));
  if (bundle && main > 0) {
    out = [...argv.slice(0, main), bundle, ...argv.slice(main + 1)];
  }
  if (out.includes("--no-code-cache")) return out;
  return [out[0], "run", "--no-code-cache", ...out.slice(2)];
}

/**
 * Re-executes this process with the memory settings (and, from source, from
 * the bundle) unless it already runs with them. Returns when it does, or
 * when exec is impossible (then weft runs with Deno's defaults and says so
 * on stderr).
 */
export function applyMemorySettings(role: Role): void {
  const env = tunedEnv(Deno.env.toObject(), role);
  if (!env) return;
  const argv = selfArgv();
  const bundle = argv[1] === "run" ? ensureBundle(argv[0], env) : null;
  if (bundle) env[SOURCE_ROOT_ENV] = sourceRoot();
  try {
    execSelf(env, tunedArgv(argv, bundle));
  } catch (e) {
    console.error(
      `weft: running with Deno's default memory settings: ${
        (e as Error).message
      }`,
    );
  }
}
