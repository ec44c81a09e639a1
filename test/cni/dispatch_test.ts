// Every CNI name dispatches from argv0 to the plugin skeleton when weft is
// started the way a runtime starts a plugin (exec -a <name> ... main.ts).

import { assert, assertEquals, assertMatch } from "@std/assert";
import { cniEnv, json, runExec } from "./_helpers.ts";

const NAMES = [
  "flannel",
  "bridge",
  "host-local",
  "portmap",
  "bandwidth",
  "loopback",
];
const VERSIONS = [
  "0.1.0",
  "0.2.0",
  "0.3.0",
  "0.3.1",
  "0.4.0",
  "1.0.0",
  "1.1.0",
];

for (const name of NAMES) {
  Deno.test(`${name}: CNI_COMMAND=VERSION through argv0 prints the supported versions`, async () => {
    const r = await runExec(name, { CNI_COMMAND: "VERSION" });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(json(r), { cniVersion: "1.1.0", supportedVersions: VERSIONS });
  });

  Deno.test(`${name}: no CNI_COMMAND prints the about line on stderr and exits 0`, async () => {
    const r = await runExec(name, {});
    assertEquals(r.code, 0);
    assertEquals(r.stdout, "");
    assertMatch(r.stderr, new RegExp(`^CNI ${name} plugin weft v`));
    assert(
      r.stderr.includes(
        `CNI protocol versions supported: ${VERSIONS.join(", ")}`,
      ),
      r.stderr,
    );
  });

  Deno.test(`${name}: garbage on stdin for ADD is code 6 on stdout, exit 1`, async () => {
    const r = await runExec(
      name,
      cniEnv("ADD", { netns: "/run/netns/none" }),
      "this is { not json",
    );
    assertEquals(r.code, 1);
    const e = json(r);
    assertEquals(e.code, 6);
    assertEquals(e.msg, "error unmarshalling network config");
  });
}

Deno.test("weft started under another name runs the CLI, not a plugin", async () => {
  const r = await runExec("weft", { CNI_COMMAND: "VERSION" });
  assert(!r.stdout.includes("supportedVersions"), r.stdout);
});

Deno.test("the CNI path's module graph (static and lazy) stays in src/cni, src/net, src/util and ffi", async () => {
  const root = new URL("../../", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "info",
      "--json",
      new URL("../../src/cni/mod.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout));
  const specs: string[] = graph.modules.map((m: { specifier: string }) =>
    m.specifier
  );
  assert(
    specs.some((s) => s.endsWith("src/cni/flannel/mod.ts")),
    "lazy plugins are in the graph",
  );
  const outside = specs.filter((s) =>
    !["src/cni/", "src/net/", "src/util/", "ffi/"].some((p) =>
      s.startsWith(root + p)
    )
  );
  assertEquals(outside, []);
});

Deno.test("an exec'd plugin refuses stdin over 4 MiB with decoding error JSON (code 6), and reads a big valid one", async () => {
  const env = cniEnv("ADD", { netns: "/nonexistent" });
  const big = JSON.stringify({
    cniVersion: "1.0.0",
    name: "n",
    type: "loopback",
    pad: "x".repeat(4 * 1024 * 1024),
  });
  const r = await runExec("loopback", env, big);
  assertEquals(r.code, 1, r.stderr);
  assertEquals(json(r).code, 6);
  assertMatch(String(json(r).details), /more than 4194304 bytes/);
  // Just under the bound: parsed, then the plugin's own error (no netns).
  const ok = JSON.stringify({
    cniVersion: "1.0.0",
    name: "n",
    type: "loopback",
    pad: "x".repeat(3 * 1024 * 1024),
  });
  const r2 = await runExec("loopback", env, ok);
  assertEquals(r2.code, 1, r2.stderr);
  assert(json(r2).code !== 6, r2.stdout);
});
