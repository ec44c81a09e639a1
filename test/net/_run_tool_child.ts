// Runs a tool 1000 times through runTool() and reports how much the
// process's resident memory grew (after giving malloc's free pages back):
// a tool's output must not stay behind in memory.

import { trimMalloc } from "../../ffi/mod.ts";
import { runTool } from "../../src/net/netfilter/mod.ts";

function rss(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(status.match(/^VmRSS:\s+(\d+) kB/m)![1]) * 1024;
}

const run = () => runTool(["printf", "%s\\n", "x"]);
for (let i = 0; i < 50; i++) await run(); // warm up
trimMalloc();
const before = rss();
let out = "";
for (let i = 0; i < 1000; i++) out = (await run()).stdout;
trimMalloc();
console.log(JSON.stringify({ grown: rss() - before, out }));
