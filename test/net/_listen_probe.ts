// Test helper run inside a namespace (`ip netns exec`): listens with
// listenTcpOn(BIND) on a free port, connects to each address given and
// prints {"listening":[hosts],"reached":{addr:true|false}} as JSON.

import { listenTcpOn } from "../../src/net/mod.ts";

const [bind, ...targets] = Deno.args;
const group = listenTcpOn(bind === "-" ? undefined : bind, 0);
const accepting = (async () => {
  for await (const c of group) c.close();
})();
const reached: Record<string, boolean> = {};
for (const host of targets) {
  try {
    const c = await Deno.connect({ hostname: host, port: group.addr.port });
    c.close();
    reached[host] = true;
  } catch {
    reached[host] = false;
  }
}
group.close();
await accepting;
console.log(JSON.stringify({
  listening: group.addrs.map((a) => a.hostname),
  reached,
}));
