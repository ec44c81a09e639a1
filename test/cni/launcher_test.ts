// The native CNI launcher (src/cni/launcher/): its machine code is what
// x86_64.s assembles to, the installer's data reads back, and the
// executable itself — run for real — hands the operation to whatever
// listens on the socket and obeys the answer: exit with the agent's code,
// exec the fallback when declined or when nobody answers, exec the
// "agent lost" argv when the agent vanishes mid-operation, stream its stdin
// when asked. Then the agent's side (src/cni/proc_request.ts) with the real
// server: served operations get stdin over the socket and write stdout
// through /proc, hostile requests (bad pid, a process that is no plugin,
// another network namespace, a stdin that never ends) are dropped,
// declined or cut off, and the server goes on.

import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  hasLauncher,
  LauncherError,
  launcherImage,
  type LauncherSpec,
  readLauncher,
} from "../../src/cni/launcher/mod.ts";
import {
  CODE_HEX as X86_HEX,
  TABLE_OFFSET as X86_TABLE,
} from "../../src/cni/launcher/x86_64.ts";
import {
  CODE_HEX as A64_HEX,
  TABLE_OFFSET as A64_TABLE,
} from "../../src/cni/launcher/aarch64.ts";
import { procRequest } from "../../src/cni/proc_request.ts";
import {
  CNI_SOCKET_ENV,
  LAUNCHER_ACCEPT,
  LAUNCHER_FALLBACK,
  LAUNCHER_MAGIC,
  LAUNCHER_SEND_STDIN,
  netnsId,
} from "../../src/cni/socket.ts";
import { Netns } from "../harness/netns.ts";
import { startCniServer } from "./_serve.ts";

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "weft-launcher-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

function have(cmd: string): boolean {
  try {
    new Deno.Command(cmd, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync();
    return true;
  } catch {
    return false;
  }
}

/** Each architecture's source, its committed bytes and the binutils
 * that assemble it (present here or not). */
const SOURCES = [
  {
    arch: "x86_64",
    hex: X86_HEX,
    table: X86_TABLE,
    as: ["as", "--64"],
    objcopy: "objcopy",
  },
  {
    arch: "aarch64",
    hex: A64_HEX,
    table: A64_TABLE,
    as: ["aarch64-linux-gnu-as"],
    objcopy: "aarch64-linux-gnu-objcopy",
  },
];

for (const src of SOURCES) {
  const tools = have(src.as[0]) && have(src.objcopy);
  if (!tools) {
    console.log(
      `launcher_test: ${
        src.as[0]
      }/${src.objcopy} not installed: the check that ${src.arch}.s assembles to its committed bytes is skipped`,
    );
  }
  Deno.test({
    name: `${src.arch}.s assembles to the committed machine code (binutils)`,
    ignore: !tools,
    fn: async () => {
      await using tmp = await tempDir();
      const o = `${tmp.path}/l.o`;
      const bin = `${tmp.path}/l.bin`;
      const s = new URL(
        `../../src/cni/launcher/${src.arch}.s`,
        import.meta.url,
      ).pathname;
      for (
        const [cmd, ...args] of [
          [...src.as, "-o", o, s],
          [src.objcopy, "-O", "binary", "-j", ".text", o, bin],
        ]
      ) {
        const r = await new Deno.Command(cmd, { args }).output();
        assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
      }
      const text = await Deno.readFile(bin);
      const hex = [...text.subarray(0, src.table)]
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      assertEquals(hex, src.hex);
      // The table of four addresses follows, zero in the source.
      assertEquals([...text.subarray(src.table)], new Array(32).fill(0));
    },
  });
}

const SPEC: LauncherSpec = {
  socket: "/run/flannel/weft-cni.sock",
  exec: "/usr/local/bin/weft",
  argv: ["flannel", "--weft-no-agent"],
  lostArgv: ["flannel", "--weft-agent-lost"],
};

Deno.test("launcherImage: a static ELF under 2 KiB that readLauncher reads back; what cannot fit is refused", () => {
  for (const [arch, machine] of [["x86_64", 62], ["aarch64", 183]] as const) {
    const img = launcherImage(SPEC, arch);
    assert(img.length < 2048, `${img.length} bytes`);
    assertEquals([...img.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
    assertEquals(new DataView(img.buffer).getUint16(18, true), machine);
    assertEquals(readLauncher(img), SPEC);
  }
  assertThrows(() => launcherImage(SPEC, "riscv64"), LauncherError);
  const img = launcherImage(SPEC);
  assertEquals(readLauncher(new TextEncoder().encode("#!/bin/sh\n")), null);
  assertEquals(readLauncher(img.subarray(0, 700)), null);
  const bad: Partial<LauncherSpec>[] = [
    { socket: "/" + "s".repeat(107) },
    { socket: "" },
    { exec: "/bin/x\0y" },
    { argv: [] },
    { lostArgv: new Array(65).fill("x") },
  ];
  for (const b of bad) {
    assertThrows(() => launcherImage({ ...SPEC, ...b }), LauncherError);
  }
});

/** A listener standing in for the agent: answers each launcher with `answer`. */
function fakeAgent(
  path: string,
  answer: (pid: number, conn: Deno.UnixConn) => Promise<void>,
) {
  const listener = Deno.listen({ transport: "unix", path });
  const pids: number[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      const req = new Uint8Array(8);
      let off = 0;
      while (off < 8) {
        const n = await conn.read(req.subarray(off));
        if (n === null) break;
        off += n;
      }
      const v = new DataView(req.buffer);
      assertEquals(v.getUint32(0, true), LAUNCHER_MAGIC);
      const pid = v.getUint32(4, true);
      pids.push(pid);
      await answer(pid, conn).catch(() => {});
      try {
        conn.close();
      } catch { /* closed by answer */ }
    }
  })();
  return {
    pids,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop.catch(() => {});
    },
  };
}

async function runLauncher(
  cmd: string[],
  env: Record<string, string>,
  stdin?: Uint8Array,
) {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin).catch(() => {});
    await w.close().catch(() => {});
  }
  const out = await child.output();
  return {
    pid: child.pid,
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
  };
}

/** Where each launcher runs: natively, or the aarch64 one under qemu-user. */
const RUNNERS = [
  { arch: "x86_64", prefix: [] as string[], ok: Deno.build.arch === "x86_64" },
  {
    arch: "aarch64",
    prefix: Deno.build.arch === "aarch64" ? [] : ["qemu-aarch64-static"],
    ok: Deno.build.arch === "aarch64" || have("qemu-aarch64-static"),
  },
];
for (const r of RUNNERS) {
  if (!r.ok) {
    console.log(
      `launcher_test: the ${r.arch} launcher cannot run here (no qemu-aarch64-static): its behaviour test is skipped`,
    );
  }
}

for (const runner of RUNNERS) {
  Deno.test({
    name:
      `the ${runner.arch} launcher: exits with the agent's code; streams its stdin when asked; execs the fallback when declined, refused or unanswered; the lost argv when the agent goes mid-operation`,
    ignore: !runner.ok,
    fn: async () => {
      await using tmp = await tempDir();
      const dir = tmp.path;
      const sock = `${dir}/agent.sock`;
      const launcher = `${dir}/flannel`;
      await Deno.writeFile(
        launcher,
        launcherImage({
          socket: `${dir}/default.sock`,
          exec: "/bin/echo",
          argv: ["echo", "fallback"],
          lostArgv: ["echo", "lost"],
        }, runner.arch),
        { mode: 0o755 },
      );
      const cmd = [...runner.prefix, launcher];
      const received: number[] = [];
      let mode = "code";
      await using agent = fakeAgent(sock, async (_pid, conn) => {
        if (mode === "code") {
          await conn.write(new Uint8Array([LAUNCHER_ACCEPT, 7]));
        }
        if (mode === "decline") {
          await conn.write(new Uint8Array([LAUNCHER_FALLBACK]));
        }
        if (mode === "lost") {
          await conn.write(new Uint8Array([LAUNCHER_ACCEPT]));
        }
        if (mode === "stdin" || mode === "stdin-lost") {
          // Ask for stdin, read it to its end (the launcher shuts down its
          // writing side), then answer with the byte count's low bits.
          await conn.write(new Uint8Array([LAUNCHER_SEND_STDIN]));
          const buf = new Uint8Array(64 * 1024);
          let n = 0;
          const hash = new Uint8Array(1);
          for (;;) {
            const got = await conn.read(buf);
            if (got === null) break;
            for (let i = 0; i < got; i++) hash[0] = hash[0] * 31 + buf[i];
            n += got;
          }
          received.push(n);
          if (mode === "stdin") {
            await conn.write(new Uint8Array([LAUNCHER_ACCEPT, hash[0]]));
          }
        }
        // "close": nothing at all.
      });
      const env = { [CNI_SOCKET_ENV]: sock, PATH: "/usr/bin:/bin" };
      const r = await runLauncher(cmd, env);
      assertEquals([r.code, r.stdout], [7, ""]);
      assertEquals(agent.pids.at(-1), r.pid, "it sends its own pid");
      mode = "decline";
      assertEquals((await runLauncher(cmd, env)).stdout, "fallback\n");
      mode = "close";
      assertEquals((await runLauncher(cmd, env)).stdout, "fallback\n");
      mode = "lost";
      assertEquals((await runLauncher(cmd, env)).stdout, "lost\n");
      // Its stdin, asked for: all of it (several 64 KiB reads) reaches the
      // agent; once it is sent there is no fallback, only "lost".
      const data = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
      const hash = new Uint8Array(1);
      for (const b of data) hash[0] = hash[0] * 31 + b;
      mode = "stdin";
      const s = await runLauncher(cmd, env, data);
      assertEquals([s.code, received.at(-1)], [hash[0], data.length]);
      const empty = await runLauncher(cmd, env);
      assertEquals([empty.code, received.at(-1)], [0, 0]);
      mode = "stdin-lost";
      assertEquals((await runLauncher(cmd, env, data)).stdout, "lost\n");
      const before = agent.pids.length;
      // No agent at the default address, an empty or a too long override.
      const envs: Record<string, string>[] = [
        {},
        { [CNI_SOCKET_ENV]: "" },
        { [CNI_SOCKET_ENV]: "/" + "x".repeat(200) },
      ];
      for (const e of envs) {
        const f = await runLauncher(cmd, e);
        assertEquals([f.code, f.stdout], [0, "fallback\n"], JSON.stringify(e));
      }
      assertEquals(
        agent.pids.length,
        before,
        "none of those reached the agent",
      );
    },
  });
}

/** Sends a launcher request for `pid`; the byte answered, or null. */
async function ask(path: string, pid: number): Promise<number | null> {
  using conn = await Deno.connect({ transport: "unix", path });
  const req = new Uint8Array(8);
  const v = new DataView(req.buffer);
  v.setUint32(0, LAUNCHER_MAGIC, true);
  v.setUint32(4, pid, true);
  await conn.write(req);
  const b = new Uint8Array(1);
  return (await conn.read(b)) === 1 ? b[0] : null;
}

Deno.test({
  name:
    "the agent serves launchers through /proc (env, stdin, stdout, exit code); bad pids are dropped, a process that is no plugin and another netns are declined; the server goes on",
  ignore: !hasLauncher(),
  fn: async () => {
    await using tmp = await tempDir();
    const dir = tmp.path;
    await using server = await startCniServer({
      readTimeoutMs: 1000,
      preload: [],
    });
    const fallback = ["echo", "fallback"];
    for (const name of ["loopback", "flannel"]) {
      await Deno.writeFile(
        `${dir}/${name}`,
        launcherImage({
          socket: server.path,
          exec: "/bin/echo",
          argv: fallback,
          lostArgv: ["echo", "lost"],
        }),
        { mode: 0o755 },
      );
    }
    const run = async (
      name: string,
      env: Record<string, string>,
      stdin: Uint8Array,
      cwd = Deno.cwd(),
    ) => {
      const child = new Deno.Command(`${dir}/${name}`, {
        env,
        clearEnv: true,
        cwd,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(stdin).catch(() => {});
      await w.close().catch(() => {});
      const out = await child.output();
      const dec = new TextDecoder();
      return {
        code: out.code,
        stdout: dec.decode(out.stdout),
        stderr: dec.decode(out.stderr),
      };
    };
    const enc = new TextEncoder();
    // VERSION: no stdin read; the answer comes from the agent.
    const v = await run(
      "loopback",
      { CNI_COMMAND: "VERSION" },
      new Uint8Array(),
    );
    assertEquals(v.code, 0, v.stderr);
    assert(JSON.parse(v.stdout).supportedVersions.includes("1.1.0"), v.stdout);
    // A loopback ADD needs a netns: a missing one is the plugin's own error
    // (exit 1 and the CNI error JSON on stdout), from the agent: it read the
    // environment and the config (stdin) of the launcher.
    const addEnv = {
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "c1",
      CNI_NETNS: "/nonexistent/netns",
      CNI_IFNAME: "lo",
      CNI_PATH: "/opt/cni/bin",
    };
    const conf = enc.encode(
      JSON.stringify({ cniVersion: "1.0.0", name: "lo", type: "loopback" }),
    );
    const add = await run("loopback", addEnv, conf);
    assertEquals(add.code, 1);
    assertEquals(
      JSON.parse(add.stdout).msg,
      'failed to open netns "/nonexistent/netns": no such file or directory',
    );
    // Stdin over 4 MiB: the decoding error, answered (stdin is consumed).
    const big = await run(
      "flannel",
      addEnv,
      new Uint8Array(4 * 1024 * 1024 + 8),
    );
    assertEquals(big.code, 1);
    assertEquals(JSON.parse(big.stdout).code, 6, big.stdout);
    // A runtime that holds the launcher's stdin open: the agent stops
    // waiting after its read timeout (here 1 s), lets go of the launcher's
    // stdout and stderr, and goes on; the launcher, once its stdin ends,
    // finds the agent gone and says "lost".
    const hung = new Deno.Command(`${dir}/loopback`, {
      env: addEnv,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const writer = hung.stdin.getWriter();
    await writer.write(conf);
    const end = Date.now() + 10_000;
    while (!server.logs.some((l) => l.startsWith("CNI request:"))) {
      assert(Date.now() < end, `the agent kept waiting: ${server.logs}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await writer.close();
    const hungOut = await hung.output();
    assertEquals(new TextDecoder().decode(hungOut.stdout), "lost\n");
    // Another working directory: declined before stdin, the fallback runs.
    const other = Deno.cwd() === "/" ? "/tmp" : "/";
    const moved = await run("loopback", addEnv, conf, other);
    assertEquals(moved.stdout, "fallback\n");
    // Hostile requests: pid 0, beyond the kernel's range, not running.
    assertEquals(await ask(server.path, 0), null);
    assertEquals(await ask(server.path, 0xffffffff), null);
    assertEquals(
      await ask(server.path, 4 * 1024 * 1024 - 1),
      LAUNCHER_FALLBACK,
    );
    // This test process is no plugin (argv[0] is deno): declined.
    assertEquals(await ask(server.path, Deno.pid), LAUNCHER_FALLBACK);
    // From another network namespace: declined, the fallback runs there.
    await using ns = await Netns.create("lnch");
    const r = await ns.run([`${dir}/loopback`], {
      env: { CNI_COMMAND: "VERSION" },
    });
    assertEquals(r.stdout, "fallback\n");
    assert(
      server.logs.some((l) => l.includes("another network namespace")),
      server.logs.join("\n"),
    );
    // Still serving.
    const again = await run(
      "loopback",
      { CNI_COMMAND: "VERSION" },
      new Uint8Array(),
    );
    assertEquals(again.code, 0, again.stderr);
  },
});

Deno.test({
  name:
    "procRequest: once it has read a launcher's stdin the agent says 'accepted' at once (the launcher then waits for the answer's bound, never runs the plugin itself without its stdin)",
  ignore: !hasLauncher(),
  fn: async () => {
    await using tmp = await tempDir();
    const dir = tmp.path;
    const sock = `${dir}/agent.sock`;
    await Deno.writeFile(
      `${dir}/flannel`,
      launcherImage({
        socket: sock,
        exec: "/bin/echo",
        argv: ["echo", "fallback"],
        lostArgv: ["echo", "lost"],
      }),
      { mode: 0o755 },
    );
    using listener = Deno.listen({ transport: "unix", path: sock });
    const own = { ns: netnsId(), cwd: Deno.cwd() };
    for (
      const [command, want] of [["ADD", "lost\n"], ["VERSION", "fallback\n"]]
    ) {
      const child = new Deno.Command(`${dir}/flannel`, {
        env: { CNI_COMMAND: command },
        stdin: "piped",
        stdout: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode('{"cniVersion":"1.0.0"}'));
      await w.close();
      const conn = await listener.accept();
      const magic = new Uint8Array(4);
      assertEquals(await conn.read(magic), 4);
      const req = await procRequest(conn, own);
      if ("declined" in req) throw new Error(`declined: ${req.declined}`);
      assertEquals(req.stdin.length, command === "ADD" ? 22 : 0);
      // The agent goes away before running it.
      req.peer.close();
      const out = await child.output();
      assertEquals(new TextDecoder().decode(out.stdout), want, command);
    }
  },
});
