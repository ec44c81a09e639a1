// weft run from source, as a user runs it: `deno run -A -q main.ts <args>`.

import { run, type RunResult } from "./netns.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** The argv that runs weft from source with `args`. */
export function weftArgv(...args: string[]): string[] {
  return [Deno.execPath(), "run", "-A", "-q", MAIN, ...args];
}

/** Runs weft from source to completion; its exit code and output. */
export function runWeft(
  args: string[],
  opts: { env?: Record<string, string> } = {},
): Promise<RunResult> {
  return run(weftArgv(...args), opts);
}
