// Runs one verb of a conflist for many attachments at once through weft's
// in-process runtime; prints the ADD results' first IPs as a JSON list.
// Usage: _cni_many.ts add|del <conflist> <cacheDir> <netns-path>...

import { CniRuntime, loadConfList } from "../../src/cni/runtime/mod.ts";

const [verb, conflist, cacheDir, ...netns] = Deno.args;
const list = await loadConfList(conflist);
const runtime = new CniRuntime({ cacheDir, log: () => {} });
const ips = await Promise.all(netns.map(async (path, i) => {
  const rt = {
    containerId: `pod${i}`,
    netns: path,
    ifname: "eth0",
    capabilityArgs: {
      portMappings: [{
        hostPort: 20000 + i,
        containerPort: 80,
        protocol: "tcp",
      }],
    },
  };
  if (verb === "add") return (await runtime.add(list, rt)).ips?.[0]?.address;
  await runtime.del(list, rt);
  return null;
}));
console.log(JSON.stringify(ips));
