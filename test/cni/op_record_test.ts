// The per-run record the exec'd plugin leaves for the local agent: written
// only when the agent created the file, bounded, never failing the run.

import { assert, assertEquals } from "@std/assert";
import {
  MAX_OPS_LOG,
  type PluginIO,
  podOf,
  runPlugin,
} from "../../src/cni/mod.ts";
import { weftAs } from "../harness/cni_ns.ts";

async function run(env: Record<string, string>, conf: unknown, opsLog: string) {
  let stdout = "";
  const io: PluginIO = {
    env,
    readStdin: () =>
      Promise.resolve(new TextEncoder().encode(JSON.stringify(conf))),
    stdout: (t) => stdout += t,
    stderr: () => {},
    opsLog,
  };
  return { code: await runPlugin("flannel", io), stdout };
}

const failingAdd = (dir: string) => ({
  env: {
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: "c0ffee" + "0".repeat(300),
    CNI_NETNS: "/var/run/netns/none",
    CNI_IFNAME: "eth0",
    CNI_PATH: "/opt/cni/bin",
    CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1",
  },
  conf: {
    cniVersion: "1.0.0",
    name: "cbr0",
    type: "flannel",
    subnetFile: `${dir}/missing/subnet.env`,
  },
});

Deno.test("a failed ADD leaves one bounded record when the agent created the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-cni-ops-" });
  try {
    const log = `${dir}/cni-ops.log`;
    const { env, conf } = failingAdd(dir);
    // No file: no agent; nothing is written, the ADD fails as it would.
    const r0 = await run(env, conf, log);
    assertEquals(r0.code, 1);
    assertEquals(await Deno.stat(log).catch(() => null), null);
    await Deno.writeTextFile(log, "");
    const r1 = await run(env, conf, log);
    assertEquals(r1.stdout, r0.stdout);
    const lines = (await Deno.readTextFile(log)).trim().split("\n");
    assertEquals(lines.length, 1);
    const rec = JSON.parse(lines[0]);
    assertEquals([rec.plugin, rec.command, rec.ok, rec.pod], [
      "flannel",
      "ADD",
      false,
      "default/web-1",
    ]);
    assertEquals(rec.containerId.length, 128);
    assert(rec.error.includes("subnet.env"), rec.error);
    assert(rec.ms >= 0);
    // VERSION and unknown commands are not operations.
    await run({ ...env, CNI_COMMAND: "VERSION" }, conf, log);
    await run({ ...env, CNI_COMMAND: "X".repeat(1000) }, conf, log);
    assertEquals((await Deno.readTextFile(log)).trim().split("\n").length, 1);
    // A file nobody drains stops growing.
    await Deno.truncate(log, MAX_OPS_LOG);
    await run(env, conf, log);
    assertEquals((await Deno.stat(log)).size, MAX_OPS_LOG);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("podOf() reads only well-formed pod names from CNI_ARGS", () => {
  assertEquals(podOf("K8S_POD_NAMESPACE=a;K8S_POD_NAME=b"), "a/b");
  assertEquals(podOf("K8S_POD_NAME=b"), undefined);
  assertEquals(podOf('K8S_POD_NAMESPACE=a";x;K8S_POD_NAME=b'), undefined);
  assertEquals(
    podOf("K8S_POD_NAMESPACE=a;K8S_POD_NAME=" + "b".repeat(5000)),
    undefined,
  );
  assertEquals(podOf(undefined), undefined);
});

Deno.test("the exec'd plugin writes its record to /run/flannel/cni-ops.log (private mount namespace)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-cni-ops-" });
  try {
    const { env, conf } = failingAdd(dir);
    const vars = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(" ");
    const plugin = weftAs("flannel").map((a) => `'${a}'`).join(" ");
    // A tmpfs on /run only in this namespace: the host's /run is untouched.
    const script = [
      "mount -t tmpfs weft-t-ops /run",
      "mkdir /run/flannel",
      ": > /run/flannel/cni-ops.log",
      // The ADD fails (exit 1): the record is read whatever its status.
      `{ env -i PATH="$PATH" ${vars} ${plugin} < ${dir}/conf.json > ${dir}/out.json; cat /run/flannel/cni-ops.log; }`,
    ].join(" && ");
    await Deno.writeTextFile(`${dir}/conf.json`, JSON.stringify(conf));
    const r = await run2([
      "unshare",
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
    ]);
    assertEquals(r.code, 0, r.stderr);
    const rec = JSON.parse(r.stdout.trim());
    assertEquals([rec.plugin, rec.command, rec.ok], ["flannel", "ADD", false]);
    // The runtime still gets the plugin's error JSON, as before.
    const out = await Deno.readTextFile(`${dir}/out.json`);
    assert(out.includes("subnet.env") && rec.error.includes("subnet.env"), out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function run2(cmd: string[]) {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const t = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: t(out.stdout), stderr: t(out.stderr) };
}
