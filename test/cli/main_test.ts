// The command line as a user meets it: exit codes and one-line errors.

import { assertEquals, assertStringIncludes } from "@std/assert";
import { runWeft } from "../harness/weft.ts";

const weft = (...args: string[]) =>
  runWeft(args, {
    env: { WEFT_CONFIG_FILE: "", WEFT_URL: "", WEFT_TOKEN: "" },
  });

Deno.test("weft version and --help", async () => {
  const v = await weft("version");
  assertEquals(v.code, 0);
  assertStringIncludes(v.stdout, "weft version v");
  const h = await weft("--help");
  assertEquals(h.code, 0);
  for (
    const c of ["server", "agent", "demo", "doctor", "token", "cni", "version"]
  ) {
    assertStringIncludes(h.stdout, `  ${c} `);
  }
});

Deno.test("every command has --help", async () => {
  for (
    const [cmd, want] of [
      ["server", "--cluster-cidr value[,value]"],
      ["agent", "--server value"],
      ["demo", "--check"],
      ["doctor", "--fix"],
      ["token", "forget-node"],
      ["cni", "add"],
    ]
  ) {
    const r = await weft(cmd, "--help");
    assertEquals(r.code, 0, `${cmd}: ${r.stderr}`);
    assertStringIncludes(r.stdout + r.stderr, want, cmd);
  }
});

Deno.test("an unknown command, an unknown flag and a bad value exit 2 with one line", async () => {
  const cases: [string[], string][] = [
    [["frobnicate"], 'weft: unknown command "frobnicate"'],
    [["server", "--flannel-backed", "vxlan"], "unknown flag --flannel-backed"],
    [
      ["server", "--cluster-cidr", "10.42.0.0/40"],
      'invalid value "10.42.0.0/40" for flag --cluster-cidr',
    ],
    [
      ["agent", "--server", "http://x:6443", "--token", "t"],
      "must be an https:// URL",
    ],
    [["agent"], "--server (or WEFT_URL) is required"],
  ];
  for (const [args, msg] of cases) {
    const r = await weft(...args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assertStringIncludes(r.stderr, msg);
  }
});

Deno.test("a bad config file stops weft server with the key and line, exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-main-" });
  try {
    await Deno.writeTextFile(
      `${dir}/config.yaml`,
      "data-dir: /tmp/x\nflannel-backend: udp\n",
    );
    const r = await weft("server", "--config", `${dir}/config.yaml`);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(
      r.stderr,
      'invalid value "udp" for config file key "flannel-backend"',
    );
    await Deno.writeTextFile(
      `${dir}/config.yaml`,
      "data-dir: /tmp/x\nnode-nam: a\n",
    );
    const r2 = await weft("server", "--config", `${dir}/config.yaml`);
    assertEquals(r2.code, 2);
    assertStringIncludes(
      r2.stderr,
      `config file ${dir}/config.yaml line 2: unknown key "node-nam"`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("weft token show needs a server data dir; forget-node answers either way", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-main-" });
  try {
    const r = await weft("token", "show", "--data-dir", dir);
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, `no ${dir}/server/token`);
    await Deno.mkdir(`${dir}/server`, { recursive: true });
    await Deno.writeTextFile(`${dir}/server/token`, "K10abc::server:s1\n");
    await Deno.writeTextFile(`${dir}/server/agent-token`, "K10abc::node:s2\n");
    const ok = await weft("token", "show", "--data-dir", dir);
    assertEquals(ok.code, 0, ok.stderr);
    assertEquals(
      ok.stdout,
      "server token: K10abc::server:s1\nagent token: K10abc::node:s2\n",
    );
    const f = await weft("token", "forget-node", "edge-7", "--data-dir", dir);
    assertEquals(f.code, 0, f.stderr);
    assertStringIncludes(f.stdout, "edge-7");
    const bad = await weft("token", "rotate");
    assertEquals(bad.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
