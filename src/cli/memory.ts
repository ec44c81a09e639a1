// The memory settings `weft server` and `weft agent` run with. V8 reads its
// heap flags and glibc its arena count only when a process starts, so the
// command re-executes itself once with them (same pid, argv and stdio; the
// compiled binary also has the V8 flags built in by scripts/compile.ts).
// Measured on a 2-node cluster (bench/footprint_bench.ts), together they
// take ~7 MB off the agent and the server; the tunnel's throughput, mostly
// native work (TLS, websocket framing), showed no loss in tunnel_bench.
// An operator who wants the optimizing compilers back sets DENO_V8_FLAGS
// (e.g. --no-lite-mode): flags given there come after these and win.

import { execSelf } from "../../ffi/mod.ts";

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
 * Re-executes this process with the memory settings unless it already runs
 * with them. Returns when it does, or when exec is impossible (then weft
 * runs with Deno's defaults and says so on stderr).
 */
export function applyMemorySettings(): void {
  const env = tunedEnv(Deno.env.toObject());
  if (!env) return;
  try {
    execSelf(env);
  } catch (e) {
    console.error(
      `weft: running with Deno's default memory settings: ${
        (e as Error).message
      }`,
    );
  }
}
