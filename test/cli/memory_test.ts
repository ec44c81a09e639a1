import { assert, assertEquals } from "@std/assert";
import {
  MALLOC_ARENA_MAX,
  MEMORY_V8_FLAGS,
  tunedArgv,
  tunedEnv,
} from "../../src/cli/memory.ts";
import { Netns } from "../harness/netns.ts";
import {
  ensureBundle,
  NO_BUNDLE_ENV,
  SOURCE_ROOT,
  SOURCE_ROOT_ENV,
  sourceKey,
} from "../../src/cli/source_bundle.ts";
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

Deno.test("tunedArgv() runs a bundle instead of main.ts when given one, keeping the deno flags", () => {
  assertEquals(
    tunedArgv([
      "deno",
      "run",
      "-A",
      "-q",
      "--config",
      "/w/deno.json",
      "/w/main.ts",
      "agent",
      "--config",
      "x.yaml",
    ], "/c/bundle-1/main.js"),
    [
      "deno",
      "run",
      "--no-code-cache",
      "-A",
      "-q",
      "--config",
      "/w/deno.json",
      "/c/bundle-1/main.js",
      "agent",
      "--config",
      "x.yaml",
    ],
  );
  // No main.ts to replace, or no bundle: as before.
  assertEquals(
    tunedArgv(["deno", "run", "-A", "other.ts", "agent"], "b.js"),
    ["deno", "run", "--no-code-cache", "-A", "other.ts", "agent"],
  );
});

Deno.test("ensureBundle(): one bundle per state of the checkout, built once, reused; WEFT_NO_BUNDLE=1 or no cache dir: none", async () => {
  const cache = await Deno.makeTempDir({ prefix: "weft-t-bundle-" });
  try {
    const env = { XDG_CACHE_HOME: cache };
    const entry = ensureBundle(Deno.execPath(), env);
    assert(entry?.endsWith(`/weft/bundle-${sourceKey()}/main.js`), `${entry}`);
    const st = Deno.statSync(entry!);
    assertEquals(ensureBundle(Deno.execPath(), env), entry);
    assertEquals(Deno.statSync(entry!).mtime, st.mtime, "not built again");
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        `${SOURCE_ROOT}deno.json`,
        entry!,
        "version",
      ],
    }).output();
    assertEquals(out.code, 0);
    assert(new TextDecoder().decode(out.stdout).startsWith("weft version"));
    assertEquals(
      ensureBundle(Deno.execPath(), { ...env, [NO_BUNDLE_ENV]: "1" }),
      null,
    );
    assertEquals(ensureBundle(Deno.execPath(), {}), null);
    // While another process builds (its lock is fresh): none, no waiting.
    const other = { XDG_CACHE_HOME: `${cache}/y` };
    Deno.mkdirSync(`${cache}/y/weft/bundle-${sourceKey()}.building`, {
      recursive: true,
    });
    assertEquals(ensureBundle(Deno.execPath(), other), null);
    // A deno that cannot bundle: none, and nothing half-built is left.
    assertEquals(
      ensureBundle("/bin/false", { XDG_CACHE_HOME: `${cache}/x` }),
      null,
    );
    assertEquals([...Deno.readDirSync(`${cache}/x/weft`)], []);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
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
  // The bundle of this checkout exists (a first start racing another
  // builder would run the modules this once): built here, or by another
  // test's process holding the build lock meanwhile.
  await waitFor(
    "the bundle",
    () => Promise.resolve(ensureBundle(Deno.execPath()) !== null),
  );
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
    // From source it runs the cached bundle of this checkout, not main.ts,
    // and knows where the checkout is.
    assert(/\/bundle-[0-9a-f]{8}\/main\.js\0agent/.test(cmdline), cmdline);
    assert(!cmdline.includes("main.ts"), cmdline);
    assert(
      environ.includes(`${SOURCE_ROOT_ENV}=${SOURCE_ROOT}`),
      environ.filter((e) => e.startsWith("WEFT_")).join(" "),
    );
  } finally {
    child.kill("SIGTERM");
    const st = await child.status;
    await Deno.remove(dir, { recursive: true });
    assertEquals(st.code, 0, "SIGTERM stops the agent cleanly");
  }
});
