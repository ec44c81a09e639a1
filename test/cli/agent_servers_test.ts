// The agent's server list: an agent whose --server is down joins through
// another server it learned earlier (saved under its data dir), and the
// saved list is bounded input.

import { assertEquals } from "@std/assert";
import { Balancer } from "../../src/kube/mod.ts";
import { joinAny, loadSavedServers } from "../../src/cli/agent_servers.ts";
import { withWeftServer } from "../kube/_weft_server.ts";

Deno.test("an agent whose --server is down joins through a server saved by an earlier run", () =>
  withWeftServer("weft-agent-servers-", async (s) => {
    const down = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dead = `https://127.0.0.1:${(down.addr as Deno.NetAddr).port}`;
    down.close();
    const dataDir = `${s.dir}/agent`;
    await Deno.mkdir(`${dataDir}/agent/etc`, { recursive: true });
    await Deno.writeTextFile(
      `${dataDir}/agent/etc/servers.json`,
      JSON.stringify([dead, s.url, 42, "http://plain:80"]),
    );
    const b = new Balancer(dead);
    await loadSavedServers(dataDir, b);
    assertEquals(b.servers, [dead, s.url].sort());
    const logs: string[] = [];
    const joined = await joinAny(b, {
      token: s.pki.agentToken,
      nodeName: "n1",
      dataDir,
      passwordFile: `${dataDir}/password`,
      log: (m) => logs.push(m),
    });
    using client = joined.client;
    assertEquals(b.current(), s.url);
    assertEquals((await client.list("/api/v1/nodes")).items, []);
  }));

Deno.test("loadSavedServers ignores an unreadable or hostile file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-agent-servers-" });
  try {
    await Deno.mkdir(`${dir}/agent/etc`, { recursive: true });
    const b = new Balancer("https://s1:6443");
    for (const text of ["not json", '{"a":1}', "null", "[1,2,3]"]) {
      await Deno.writeTextFile(`${dir}/agent/etc/servers.json`, text);
      await loadSavedServers(dir, b);
      assertEquals(b.servers, ["https://s1:6443"]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
