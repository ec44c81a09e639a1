// The README's main job: `weft demo --check` builds a three-node cluster
// (server and agents as real processes, each node its own network and mount
// namespace), makes two pods per node through the installed CNI chain,
// checks the connectivity matrix once and tears everything down.

import { assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { run } from "../harness/netns.ts";
import { runWeft } from "../harness/weft.ts";

function namespacesWith(prefix: string): string[] {
  try {
    return [...Deno.readDirSync("/run/netns")].map((e) => e.name)
      .filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

const weft = (...args: string[]) => runWeft(args);

/**
 * `weft demo --check <args>` with its namespaces named `<prefix>*`; `left`
 * is those still there when it returned (removed afterwards in any case).
 */
async function demoCheck(prefix: string, ...args: string[]) {
  try {
    const r = await weft("demo", "--check", ...args, "--ns-prefix", prefix);
    return { ...r, left: namespacesWith(prefix) };
  } finally {
    for (const ns of namespacesWith(prefix)) {
      await run(["ip", "netns", "del", ns]);
    }
  }
}

Deno.test("weft demo --check: 3 nodes, 6 pods, the whole matrix passes, nothing left behind", async () => {
  // weft-t-<pid>-: the harness sweeps these if this test process dies.
  const prefix = `weft-t-${Deno.pid}-e2e-`;
  const r = await demoCheck(prefix, "--nodes", "3");
  const all = r.stdout + r.stderr;
  assertEquals(r.code, 0, all);
  for (const n of ["node1", "node2", "node3"]) {
    assertMatch(
      r.stdout,
      new RegExp(`${n}: registered, podCIDR 10\\.42\\.\\d+\\.0/24`),
    );
    assertMatch(
      r.stdout,
      new RegExp(`${n}: flannel up, subnet 10\\.42\\.\\d+\\.1/24`),
    );
  }
  assertEquals(
    (r.stdout.match(/: pod n\d-p\d 10\.42\.\d+\.\d+ /g) ?? []).length,
    6,
    all,
  );
  // 6 pods x 4 pods on other nodes, 6 pods x 3 nodes, 3 tunnels.
  assertStringIncludes(
    r.stdout,
    "45/45 ok — pod↔pod 24/24, pod→node 18/18, server→agent tunnel 3/3",
  );
  assertStringIncludes(r.stdout, "check passed");
  assertStringIncludes(r.stdout, "torn down");
  assertEquals(r.left, [], "the demo removed its namespaces");
});

Deno.test("weft demo rejects bad flags with one line and exit 2", async () => {
  for (
    const [args, msg] of [
      [["--nodes", "0"], 'invalid value "0" for flag --nodes'],
      [["--backend", "udp"], 'invalid value "udp" for flag --backend'],
      [["--ns-prefix", "demo-"], 'invalid value "demo-" for flag --ns-prefix'],
      [["--frobnicate"], "unknown flag --frobnicate"],
    ] as const
  ) {
    const r = await weft("demo", ...args);
    assertEquals(r.code, 2, r.stderr);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assertStringIncludes(r.stderr, msg);
  }
});

Deno.test("weft demo --check --backend host-gw: 2 nodes, the whole matrix passes", async () => {
  const prefix = `weft-t-${Deno.pid}-hg-`;
  const r = await demoCheck(prefix, "--nodes", "2", "--backend", "host-gw");
  assertEquals(r.code, 0, r.stdout + r.stderr);
  // 4 pods x 2 on the other node, 4 pods x 2 nodes, 2 tunnels.
  assertStringIncludes(
    r.stdout,
    "18/18 ok — pod↔pod 8/8, pod→node 8/8, server→agent tunnel 2/2",
  );
  assertEquals(r.left, []);
});
