// The memory settings `weft server` and `weft agent` run with. V8 reads its
// heap flags and glibc its arena count only when a process starts, so the
// command re-executes itself once with them (same pid, argv and stdio; the
// compiled binary also has the V8 flags built in by scripts/compile.ts).
// Measured on a 2-node cluster (bench/footprint_bench.ts), together with
// the release of start-up pages (run.ts) they take the agent from ~60 to
// ~50 MB and the server from ~76 to ~63 MB; the tunnel's throughput, mostly
// native work (TLS, websocket framing), showed no loss in tunnel_bench.
// An operator who wants the optimizing compilers back sets DENO_V8_FLAGS
// (e.g. --no-lite-mode): flags given there come after these and win.

import { execSelf, selfArgv } from "../../ffi/mod.ts";

export const MEMORY_V8_FLAGS = [
  // Ignition only, no JIT: no compiler code paged in, no code space, no
  // optimized code; weft's JavaScript is control logic, not number crunching.
  "--lite-mode",
  // A young generation of 2 x 1 MB instead of one growing to 2 x 16 MB.
  "--max-semi-space-size=1",
  // No GC helper threads (their stacks and malloc arenas).
  "--single-threaded-gc",
] as const;

/** glibc's per-thread malloc arenas, capped (it allows 8 per core). */
export const MALLOC_ARENA_MAX = "2";

/**
 * The environment this process should run with, or null when it already
 * does (DENO_V8_FLAGS begins with MEMORY_V8_FLAGS). The operator's own
 * DENO_V8_FLAGS and MALLOC_ARENA_MAX are kept, theirs after ours.
 */
export function tunedEnv(
  env: Record<string, string>,
): Record<string, string> | null {
  const ours = MEMORY_V8_FLAGS.join(",");
  const have = env.DENO_V8_FLAGS ?? "";
  if (have === ours || have.startsWith(`${ours},`)) return null;
  return {
    ...env,
    DENO_V8_FLAGS: have ? `${ours},${have}` : ours,
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? MALLOC_ARENA_MAX,
  };
}

/**
 * The argv to re-execute with: from source (`deno run ... main.ts`), Deno's
 * code cache is turned off (`--no-code-cache`): a cached module brings the
 * bytecode of all its functions into the heap at once, where compiling them
 * on first call brings only those that run. A compiled weft is unchanged.
 */
export function tunedArgv(argv: string[]): string[] {
  if (argv[1] !== "run" || argv.includes("--no-code-cache")) return argv;
  return [argv[0], "run", "--no-code-cache", ...argv.slice(2)];
}

/**
 * Re-executes this process with the memory settings unless it already runs
 * with them. Returns when it does, or when exec is impossible (then weft
 * runs with Deno's defaults and says so on stderr).
 */
export function applyMemorySettings(): void {
  const env = tunedEnv(Deno.env.toObject());
  if (!env) return;
  try {
    execSelf(env, tunedArgv(selfArgv()));
  } catch (e) {
    console.error(
      `weft: running with Deno's default memory settings: ${
        (e as Error).message
      }`,
    );
  }
}
