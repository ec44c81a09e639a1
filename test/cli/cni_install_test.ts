import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  CNI_BUNDLE,
  CNI_NAMES,
  CniInstallError,
  installCni,
  isCompiled,
  K3S_CONFLIST,
  parseWrapper,
  runCniInstaller,
  WEFT_CONFLIST,
  wrapperScript,
} from "../../src/cli/cni_install.ts";
import { resolveConfig } from "../../src/cli/config.ts";
import { flagHelp } from "../../src/cli/config.ts";
import { run } from "../harness/netns.ts";
import { readLauncher } from "../../src/cni/launcher/mod.ts";
import {
  AGENT_LOST_ARG,
  CNI_SOCKET_ENV,
  cniSocketPath,
  NO_AGENT_ARG,
} from "../../src/cni/socket.ts";

/** A fresh temp dir, removed on dispose. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "weft-cni-install-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}

Deno.test("isCompiled tells deno from a weft binary", () => {
  assertEquals(isCompiled("/usr/local/bin/deno"), false);
  assertEquals(isCompiled("/usr/local/bin/weft"), true);
});

Deno.test("a second install over a stale set replaces dangling links, files, wrong targets and directories", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const bin = `${dir}/data/cni`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.symlink("/nonexistent/weft-old", `${bin}/flannel`); // dangling
  await Deno.writeTextFile(`${bin}/bridge`, "old regular file");
  await Deno.symlink("/usr/lib/cni/portmap", `${bin}/portmap`); // wrong target
  await Deno.mkdir(`${bin}/loopback/inner`, { recursive: true }); // a directory
  const weft = `${dir}/weft`;
  await Deno.writeTextFile(weft, "#!/bin/sh\n");
  for (let i = 0; i < 2; i++) {
    const r = await installCni({
      dataDir: dir,
      backend: "vxlan",
      execPath: weft,
      launcher: false,
    });
    assertEquals(r.mode, "symlink");
    for (const name of CNI_NAMES) {
      const st = await Deno.lstat(`${bin}/${name}`);
      assertEquals(st.isSymlink, true, name);
      assertEquals(await Deno.readLink(`${bin}/${name}`), weft, name);
    }
  }
  // The launchers (x86_64) replace the symlinks the same way, and back.
  const r = await installCni({
    dataDir: dir,
    backend: "vxlan",
    execPath: weft,
  });
  assertEquals(r.mode, "launcher");
  for (const name of CNI_NAMES) {
    const st = await Deno.lstat(`${bin}/${name}`);
    assertEquals(st.isFile, true, name);
    assertEquals(st.mode! & 0o777, 0o755, name);
    const l = readLauncher(await Deno.readFile(`${bin}/${name}`));
    assertEquals(l?.exec, weft, name);
    assertEquals(l?.argv, [name, NO_AGENT_ARG], name);
    assertEquals(l?.lostArgv, [name, AGENT_LOST_ARG], name);
    assertEquals(l?.socket, cniSocketPath(Deno.env.toObject()));
  }
  const leftovers = [...Deno.readDirSync(bin)].map((e) => e.name).sort();
  assertEquals(leftovers, [...CNI_NAMES].sort());
});

Deno.test("from source on x86_64 each name is the native launcher, whose fallback runs deno on the bundled entry: VERSION and the about line without an agent", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const bin = `${dir}/data/cni`;
  const r = await installCni({ dataDir: dir, backend: "vxlan" });
  assertEquals(r.mode, "launcher");
  const l = readLauncher(await Deno.readFile(`${bin}/flannel`));
  assertEquals(l?.exec, Deno.execPath());
  assertEquals(l?.argv, [
    Deno.execPath(),
    "run",
    "-A",
    "-q",
    "--no-config",
    `${bin}/${CNI_BUNDLE}`,
    "flannel",
    NO_AGENT_ARG,
  ]);
  for (const name of ["host-local", "flannel"]) {
    const env = { CNI_COMMAND: "VERSION", [CNI_SOCKET_ENV]: `${dir}/none` };
    const out = await run([`${bin}/${name}`], { env });
    assertEquals(out.code, 0, out.stderr);
    const v = JSON.parse(out.stdout);
    assertEquals(v.supportedVersions.includes("1.1.0"), true);
    const about = await run([`${bin}/${name}`], {
      env: { ...env, CNI_COMMAND: "" },
    });
    assert(about.stderr.startsWith(`CNI ${name} plugin weft`), about.stderr);
  }
});

Deno.test("from source each name is a /bin/sh wrapper running the bundled entry, and answers VERSION as that plugin", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const bin = `${dir}/data/cni`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.symlink("/nonexistent", `${bin}/host-local`);
  const r = await installCni({
    dataDir: dir,
    backend: "vxlan",
    launcher: false,
  });
  assertEquals(r.mode, "wrapper");
  const st = await Deno.lstat(`${bin}/host-local`);
  assertEquals(st.isFile, true);
  assertEquals(st.mode! & 0o777, 0o755);
  const script = await Deno.readTextFile(`${bin}/flannel`);
  assert(script.startsWith("#!/bin/sh\n"), script);
  assertEquals(parseWrapper(script), {
    deno: Deno.execPath(),
    entry: `${bin}/${CNI_BUNDLE}`,
    name: "flannel",
  });
  assert(script.includes(" --no-config "), script);
  for (const name of ["host-local", "flannel"]) {
    const out = await run([`${bin}/${name}`], {
      env: { CNI_COMMAND: "VERSION" },
    });
    assertEquals(out.code, 0, out.stderr);
    const v = JSON.parse(out.stdout);
    assertEquals(v.supportedVersions.includes("1.1.0"), true);
    const about = await run([`${bin}/${name}`], { env: { CNI_COMMAND: "" } });
    assert(about.stderr.startsWith(`CNI ${name} plugin weft`), about.stderr);
  }
});

Deno.test("without a bundle the wrappers run src/cni/main.ts; parseWrapper reads this and the older bash form", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const bin = `${dir}/data/cni`;
  await installCni({
    dataDir: dir,
    backend: "vxlan",
    bundle: false,
    launcher: false,
  });
  const w = parseWrapper(await Deno.readTextFile(`${bin}/bridge`));
  assertEquals(
    w?.entry,
    new URL("../../src/cni/main.ts", import.meta.url).pathname,
  );
  assertEquals(w?.name, "bridge");
  const out = await run([`${bin}/bridge`], { env: { CNI_COMMAND: "VERSION" } });
  assertEquals(out.code, 0, out.stderr);
  assertEquals(
    parseWrapper(
      `#!/bin/bash\nexec -a portmap '/d/deno' run -A -q '/m/main.ts' "$@"\n`,
    ),
    { deno: "/d/deno", entry: "/m/main.ts", name: "portmap" },
  );
  const odd = wrapperScript({
    deno: "/o'd/deno",
    entry: "/e/x.js",
    name: "loopback",
  });
  assertEquals(parseWrapper(odd)?.name, "loopback");
  assertEquals(parseWrapper("#!/bin/sh\nexec rm -rf /\n"), null);
});

Deno.test("the default conflist is one flannel plugin with the portMappings and bandwidth capabilities; --cni-chain k3s is K3s's chain", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const conf = `${dir}/agent/etc/cni/net.d/10-flannel.conflist`;
  await installCni({ dataDir: dir, backend: "vxlan", execPath: "/x/weft" });
  const weft = JSON.parse(await Deno.readTextFile(conf));
  assertEquals(weft, WEFT_CONFLIST);
  assertEquals(weft.name, "cbr0");
  assertEquals(weft.plugins.length, 1);
  assertEquals(weft.plugins[0].type, "flannel");
  assertEquals(weft.plugins[0].capabilities, {
    portMappings: true,
    bandwidth: true,
  });
  await installCni({
    dataDir: dir,
    backend: "vxlan",
    execPath: "/x/weft",
    cniChain: "k3s",
  });
  const k3s = JSON.parse(await Deno.readTextFile(conf));
  assertEquals(k3s, K3S_CONFLIST);
  assertEquals(k3s.plugins.map((p: { type: string }) => p.type), [
    "flannel",
    "portmap",
    "bandwidth",
  ]);
  assertEquals(k3s.plugins[0].capabilities, undefined);
});

Deno.test("--cni-chain: flag, WEFT_CNI_CHAIN, config file key, --help; a bad value is refused", async () => {
  const base = {
    command: "agent" as const,
    readFile: (p: string) => p === "/c.yaml" ? "cni-chain: k3s\n" : null,
    hostname: () => "n1",
  };
  const agent = ["--server", "https://10.0.0.1:6443", "--token", "t"];
  assertEquals(
    (await resolveConfig({ ...base, args: agent, env: {} })).cniChain,
    "weft",
  );
  assertEquals(
    (await resolveConfig({
      ...base,
      args: [...agent, "--cni-chain", "k3s"],
      env: {},
    })).cniChain,
    "k3s",
  );
  assertEquals(
    (await resolveConfig({
      ...base,
      args: agent,
      env: { WEFT_CNI_CHAIN: "k3s" },
    })).cniChain,
    "k3s",
  );
  assertEquals(
    (await resolveConfig({
      ...base,
      args: [...agent, "--config", "/c.yaml"],
      env: {},
    })).cniChain,
    "k3s",
  );
  let err = "";
  try {
    await resolveConfig({
      ...base,
      args: [...agent, "--cni-chain", "calico"],
      env: {},
    });
  } catch (e) {
    err = (e as Error).message;
  }
  assert(err.includes("--cni-chain") && err.includes("weft, k3s"), err);
  for (const cmd of ["agent", "server"] as const) {
    const help = flagHelp(cmd);
    assert(
      /--cni-chain value .*\(default weft\) \[\$WEFT_CNI_CHAIN\]/.test(help),
      help,
    );
  }
});

Deno.test("--flannel-cni-conf is copied verbatim; backend none writes none", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const conf = `${dir}/agent/etc/cni/net.d/10-flannel.conflist`;
  const r = await installCni({
    dataDir: dir,
    backend: "vxlan",
    execPath: "/x/weft",
  });
  assertEquals(r.confFile, conf);

  const mine = `${dir}/mine.conflist`;
  const text =
    '{"name":"mine","cniVersion":"0.4.0","plugins":[{"type":"bridge"}]}';
  await Deno.writeTextFile(mine, text);
  await installCni({
    dataDir: dir,
    backend: "vxlan",
    execPath: "/x/weft",
    flannelCniConf: mine,
  });
  assertEquals(await Deno.readTextFile(conf), text);

  await using noneDir = await tempDir();
  const none = noneDir.path;
  const n = await installCni({
    dataDir: none,
    backend: "none",
    execPath: "/x/weft",
  });
  assertEquals(n.confFile, null);
  assertEquals([...Deno.readDirSync(n.confDir)].length, 0);

  await assertRejects(
    () =>
      installCni({
        dataDir: dir,
        backend: "vxlan",
        execPath: "/x/weft",
        flannelCniConf: `${dir}/missing.conflist`,
      }),
    CniInstallError,
    "cannot read --flannel-cni-conf",
  );
});

Deno.test("the installer task reports ready and returns when stopped", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const ac = new AbortController();
  const logs: string[] = [];
  let ready = false;
  const done = runCniInstaller(
    { dataDir: dir, backend: "host-gw", execPath: "/x/weft", launcher: false },
    {
      signal: ac.signal,
      ready: () => {
        ready = true;
        ac.abort();
      },
      log: (m) => logs.push(m),
    },
  );
  await done;
  assertEquals(ready, true);
  assertEquals(logs.length, 1);
  assertEquals(logs[0].includes("installed 6 plugins (symlinks)"), true);
});

Deno.test("from source the installer task is ready with launchers falling back to the TypeScript entry, then switches them to the bundle", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const ac = new AbortController();
  const logs: string[] = [];
  let readyEntry = "";
  const done = runCniInstaller({ dataDir: dir, backend: "vxlan" }, {
    signal: ac.signal,
    ready: () => {
      readyEntry = readLauncher(
        Deno.readFileSync(`${dir}/data/cni/flannel`),
      )?.argv[5] ?? "";
    },
    log: (m) => {
      logs.push(m);
      if (m.includes("bundle")) ac.abort();
    },
  });
  await done;
  assert(readyEntry.endsWith("/src/cni/main.ts"), readyEntry);
  assert(logs[1]?.includes("bundled entry"), logs.join("\n"));
  const l = readLauncher(await Deno.readFile(`${dir}/data/cni/flannel`));
  assertEquals(l?.argv[5], `${dir}/data/cni/${CNI_BUNDLE}`);
  const out = await run([`${dir}/data/cni/flannel`], {
    env: { CNI_COMMAND: "VERSION", [CNI_SOCKET_ENV]: `${dir}/none` },
  });
  assertEquals(out.code, 0, out.stderr);
});
