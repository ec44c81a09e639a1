import { assert, assertEquals } from "@std/assert";

Deno.test("runTool() keeps no buffers of past runs (1000 runs grow the process < 80 MB, not ~140)", async () => {
  const child = new URL("./_run_tool_child.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    grown: number;
    out: string;
  };
  assertEquals(r.out, "x\n");
  // Deno 2.9's child.output() on a spawned child kept ~100 KB per run
  // (~140 MB here; ~36 MB now, most of it malloc's arenas settling).
  assert(r.grown < 80 * 1024 * 1024, `grew ${r.grown} bytes`);
});
