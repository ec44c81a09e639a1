// How to start weft again as a child process: the compiled binary itself,
// or `deno run` on this checkout's main.ts with its deno.json.

import { isCompiled } from "../cni_install.ts";

export function selfCommand(execPath = Deno.execPath()): string[] {
  if (isCompiled(execPath)) return [execPath];
  const main = new URL("../../../main.ts", import.meta.url).pathname;
  const config = new URL("../../../deno.json", import.meta.url).pathname;
  return [execPath, "run", "-A", "-q", "--config", config, main];
}
