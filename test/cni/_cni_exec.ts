// A runtime that execs every plugin of a conflist from a bin dir, as
// containerd does (libcni-like, result cache and all), for tests that need
// the exec'd path: _cni_exec.ts <verb> <conflist> <bin dir> <cache dir>
// [<netns> <container id> [<runtime config JSON> [<CNI_ARGS>]]]. Prints the
// ADD result; exits 1 with the error on failure.
import { CniRuntime, parseConfList } from "../../src/cni/runtime/mod.ts";

const [verb, conflist, bin, cache, netns, cid, caps, cniArgs] = Deno.args;
const list = parseConfList(Deno.readFileSync(conflist));
const runtime = new CniRuntime({
  inProcess: false,
  binDirs: [bin],
  cacheDir: cache,
});
const rt = {
  containerId: cid ?? "",
  netns: netns ?? "",
  ifname: "eth0",
  capabilityArgs: caps ? JSON.parse(caps) : {},
  args: cniArgs
    ? cniArgs.split(";").map((kv) => kv.split("=", 2) as [string, string])
    : [],
};
try {
  if (verb === "add") console.log(JSON.stringify(await runtime.add(list, rt)));
  else if (verb === "del") await runtime.del(list, rt);
  else if (verb === "check") await runtime.check(list, rt);
  else if (verb === "status") await runtime.status(list);
  else if (verb === "gc") {
    await runtime.gc(list, cid ? [{ containerID: cid, ifname: "eth0" }] : []);
  } else throw new Error(`unknown verb ${verb}`);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  Deno.exit(1);
}
