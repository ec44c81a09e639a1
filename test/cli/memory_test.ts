import { assert, assertEquals } from "@std/assert";
import {
  MALLOC_ARENA_MAX,
  MEMORY_V8_FLAGS,
  tunedArgv,
  tunedEnv,
} from "../../src/cli/memory.ts";
import { Netns } from "../harness/netns.ts";
import { weftArgv } from "../harness/weft.ts";

const OURS = MEMORY_V8_FLAGS.agent.join(",");

Deno.test("tunedEnv() adds weft's V8 flags and malloc arenas, keeping the operator's after them", () => {
  assertEquals(tunedEnv({ PATH: "/bin" }, "agent"), {
    PATH: "/bin",
    DENO_V8_FLAGS: OURS,
    MALLOC_ARENA_MAX,
  });
  assertEquals(
    tunedEnv(
      { DENO_V8_FLAGS: "--no-lite-mode", MALLOC_ARENA_MAX: "4" },
      "agent",
    ),
    { DENO_V8_FLAGS: `${OURS},--no-lite-mode`, MALLOC_ARENA_MAX: "4" },
  );
  // Already applied (the re-executed process): nothing to do.
  assertEquals(tunedEnv({ DENO_V8_FLAGS: OURS }, "agent"), null);
  assertEquals(
    tunedEnv({ DENO_V8_FLAGS: `${OURS},--no-lite-mode` }, "agent"),
    null,
  );
  // The server keeps the JIT: its own, shorter set.
  assertEquals(
    tunedEnv({}, "server")?.DENO_V8_FLAGS,
    MEMORY_V8_FLAGS.server.join(","),
  );
  assert(!MEMORY_V8_FLAGS.server.includes("--lite-mode"));
  // A prefix that only looks like ours is not ours.
  assertEquals(
    tunedEnv({ DENO_V8_FLAGS: `${OURS}x` }, "agent")?.DENO_V8_FLAGS,
    `${OURS},${OURS}x`,
  );
});

Deno.test("tunedArgv() turns Deno's code cache off for source runs and leaves a compiled weft alone", () => {
  assertEquals(
    tunedArgv(["deno", "run", "-A", "main.ts", "agent", "--run"]),
    ["deno", "run", "--no-code-cache", "-A", "main.ts", "agent", "--run"],
  );
  const tuned = ["deno", "run", "--no-code-cache", "-A", "main.ts", "agent"];
  assertEquals(tunedArgv(tuned), tuned);
  assertEquals(tunedArgv(["/usr/local/bin/weft", "agent", "run"]), [
    "/usr/local/bin/weft",
    "agent",
    "run",
  ]);
});

async function waitFor(what: string, fn: () => Promise<boolean>) {
  for (let i = 0; i < 300; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("weft agent runs with the memory settings in the process that was started", async () => {
  await using ns = await Netns.create("mem");
  const dir = await Deno.makeTempDir({ prefix: "weft-t-mem-" });
  const log = `${dir}/agent.log`;
  // A server nobody answers on: the agent starts its tasks and retries the
  // join, which is all this test needs.
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns.name,
      "bash",
      "-c",
      'exec "$@" 2>"$LOG"',
      "bash",
      ...weftArgv(
        "agent",
        "--server",
        "https://127.0.0.1:1",
        "--token",
        `K10${"0".repeat(64)}::node:secret`,
        "--data-dir",
        dir,
        "--node-name",
        "mem",
      ),
    ],
    env: { LOG: log, WEFT_CONFIG_FILE: "" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitFor("the agent's join task", async () => {
      const text = await Deno.readTextFile(log).catch(() => "");
      return text.includes("join: starting");
    });
    const environ = new TextDecoder().decode(
      await Deno.readFile(`/proc/${child.pid}/environ`),
    ).split("\0");
    const flags = environ.find((e) => e.startsWith("DENO_V8_FLAGS="));
    assert(
      flags === `DENO_V8_FLAGS=${OURS}` ||
        flags?.startsWith(`DENO_V8_FLAGS=${OURS},`),
      `${flags}`,
    );
    assert(environ.some((e) => e.startsWith("MALLOC_ARENA_MAX=")));
    const cmdline = new TextDecoder().decode(
      await Deno.readFile(`/proc/${child.pid}/cmdline`),
    );
    assert(cmdline.includes("agent\0--server"), cmdline);
    assert(cmdline.includes("\0run\0--no-code-cache\0"), cmdline);
  } finally {
    child.kill("SIGTERM");
    const st = await child.status;
    await Deno.remove(dir, { recursive: true });
    assertEquals(st.code, 0, "SIGTERM stops the agent cleanly");
  }
});
