// A process that releases its start-up pages, then keeps working: an HTTP
// round trip on loopback, a subprocess, JSON and a sort (the test checks the
// answer and that the executable's resident pages went down).

import { releaseStartupMemory } from "../../ffi/mod.ts";
import { cleanExecutableMappings } from "../../ffi/memory.ts";

function residentExecutable(): number {
  const exe = Deno.readLinkSync("/proc/self/exe");
  const smaps = Deno.readTextFileSync("/proc/self/smaps");
  return cleanExecutableMappings(smaps, exe).reduce((n, m) => n + m.rss, 0);
}

const before = residentExecutable();
const released = releaseStartupMemory().executable;
const after = residentExecutable();

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  () => new Response("hello over loopback"),
);
const said = await (await fetch(`http://127.0.0.1:${server.addr.port}/`))
  .text();
await server.shutdown();
const echo = await new Deno.Command("printf", { args: ["3\n1\n2"] }).output();
const sorted = new TextDecoder().decode(echo.stdout).split("\n").map(Number)
  .sort((a, b) => b - a);
console.log(JSON.stringify({
  released,
  before,
  after,
  work: `${said}, sorted ${sorted.join(",")}`,
}));
