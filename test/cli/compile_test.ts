// The compiled binary: `deno task compile` output behind the CNI symlinks.
// Runs when DENORT_BIN is set or deno compile can get denort; otherwise the
// test is ignored and the reason printed.

import { assertEquals, assertStringIncludes } from "@std/assert";
import { CNI_NAMES, installCni } from "../../src/cli/cni_install.ts";
import { run } from "../harness/netns.ts";

const root = new URL("../..", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "weft-compile-test-" });
const binary = `${dir}/weft`;
const build = await run([
  Deno.execPath(),
  "run",
  "-A",
  `${root}scripts/compile.ts`,
  "--output",
  binary,
]);
const built = build.code === 0;
if (!built) {
  await Deno.remove(dir, { recursive: true });
  console.log(
    `compile_test: skipped, no compiled binary: ${
      build.stdout.trim() || build.stderr.trim()
    }`,
  );
}

Deno.test("compile: an unavailable denort is one clear line and exit 1", {
  ignore: built,
}, () => {
  assertEquals(build.code, 1);
  const lines = build.stdout.trim().split("\n");
  assertEquals(lines.length, 1);
  assertStringIncludes(lines[0], "DENORT_BIN");
});

Deno.test({
  name: "compiled weft answers version, and VERSION behind every CNI symlink",
  ignore: !built,
  fn: async () => {
    try {
      const v = await run([binary, "version"]);
      assertEquals(v.code, 0);
      assertStringIncludes(v.stdout, "weft version v");
      const r = await installCni({
        dataDir: dir,
        backend: "vxlan",
        execPath: binary,
      });
      assertEquals(r.mode, "symlink");
      for (const name of CNI_NAMES) {
        const out = await run([`${r.binDir}/${name}`], {
          env: { CNI_COMMAND: "VERSION" },
        });
        assertEquals(out.code, 0, `${name}: ${out.stderr}`);
        assertEquals(
          JSON.parse(out.stdout).supportedVersions.includes("1.1.0"),
          true,
          name,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
