// Attaches (or detaches) many pod namespaces through weft's in-process CNI
// runtime in one process; prints each attachment's addresses as JSON.
// Usage: _attach.ts add|del <conflist> <cacheDir> <first-index> <netns-path>...

import { CniRuntime, loadConfList } from "../../src/cni/runtime/mod.ts";

const [verb, conflist, cacheDir, first, ...netns] = Deno.args;
const list = await loadConfList(conflist);
const runtime = new CniRuntime({ cacheDir, log: () => {} });
const out: string[][] = [];
for (const [i, path] of netns.entries()) {
  const rt = {
    containerId: `pod${Number(first) + i}`,
    netns: path,
    ifname: "eth0",
  };
  if (verb === "add") {
    const res = await runtime.add(list, rt);
    out.push((res.ips ?? []).map((x) => x.address.split("/")[0]));
  } else {
    await runtime.del(list, rt);
    out.push([]);
  }
}
console.log(JSON.stringify(out));
