import { assertEquals, assertRejects } from "@std/assert";
import {
  CNI_NAMES,
  CniInstallError,
  DEFAULT_CONFLIST,
  installCni,
  isCompiled,
  runCniInstaller,
} from "../../src/cli/cni_install.ts";
import { run } from "../harness/netns.ts";

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
    });
    assertEquals(r.mode, "symlink");
    for (const name of CNI_NAMES) {
      const st = await Deno.lstat(`${bin}/${name}`);
      assertEquals(st.isSymlink, true, name);
      assertEquals(await Deno.readLink(`${bin}/${name}`), weft, name);
    }
  }
  const leftovers = [...Deno.readDirSync(bin)].map((e) => e.name).sort();
  assertEquals(leftovers, [...CNI_NAMES].sort());
});

Deno.test("from source each name is an exec wrapper that answers VERSION as that plugin", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const bin = `${dir}/data/cni`;
  await Deno.mkdir(bin, { recursive: true });
  await Deno.symlink("/nonexistent", `${bin}/host-local`);
  const r = await installCni({ dataDir: dir, backend: "vxlan" });
  assertEquals(r.mode, "wrapper");
  const st = await Deno.lstat(`${bin}/host-local`);
  assertEquals(st.isFile, true);
  assertEquals(st.mode! & 0o777, 0o755);
  const script = await Deno.readTextFile(`${bin}/flannel`);
  assertEquals(script.startsWith("#!/bin/bash\nexec -a flannel "), true);
  const out = await run([`${bin}/host-local`], {
    env: { CNI_COMMAND: "VERSION" },
  });
  assertEquals(out.code, 0, out.stderr);
  const v = JSON.parse(out.stdout);
  assertEquals(v.supportedVersions.includes("1.1.0"), true);
});

Deno.test("the conflist has K3s's content; --flannel-cni-conf is copied verbatim; backend none writes none", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const conf = `${dir}/agent/etc/cni/net.d/10-flannel.conflist`;
  const r = await installCni({
    dataDir: dir,
    backend: "vxlan",
    execPath: "/x/weft",
  });
  assertEquals(r.confFile, conf);
  assertEquals(JSON.parse(await Deno.readTextFile(conf)), DEFAULT_CONFLIST);
  assertEquals(DEFAULT_CONFLIST.plugins.map((p) => p.type), [
    "flannel",
    "portmap",
    "bandwidth",
  ]);

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
    { dataDir: dir, backend: "host-gw", execPath: "/x/weft" },
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
