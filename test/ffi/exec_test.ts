import { assertEquals } from "@std/assert";

Deno.test("execSelf() replaces the program with itself: same pid, argv and stdout, the new environment", async () => {
  const child = new URL("./_exec_child.ts", import.meta.url).pathname;
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child, "one arg", "two"],
    env: { WEFT_T_EXEC_MARK: "" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await proc.output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  assertEquals(lines, [
    `before ${proc.pid} mark=""`,
    `after ${proc.pid} mark="execed" args=one arg|two`,
  ]);
});
