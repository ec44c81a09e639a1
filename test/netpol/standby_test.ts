// The network-policy task's standby against the fake API: with no
// NetworkPolicy in the cluster it removes weft's table (an earlier run's)
// and nothing else, and waits; the first policy ends the wait (then the
// agent loads the controller); while the API does not serve policies it
// writes nothing and keeps waiting.

import { assert, assertEquals } from "@std/assert";
import { TABLE_NAME, untilFirstPolicy } from "../../src/netpol/mod.ts";
import { Netns } from "../harness/netns.ts";
import { until } from "../kube/_fake_apiserver.ts";
import { withFakeResourceApi } from "./_fake_api.ts";

const POLICIES = "/apis/networking.k8s.io/v1/networkpolicies";

const policy = {
  metadata: { namespace: "x", name: "deny-all" },
  spec: { podSelector: {} },
};

async function tableExists(ns: Netns, name: string): Promise<boolean> {
  return (await ns.run(["nft", "list", "table", "inet", name])).code === 0;
}

Deno.test("standby: no policy, so weft's stale table goes (only it) and the wait lasts until the first policy", async () => {
  await using ns = await Netns.create("nps");
  await ns.sh("nft", "add table inet weft-netpol");
  await ns.sh("nft", "add chain inet weft-netpol left-over");
  await ns.sh("nft", "add table inet someone-else");
  await withFakeResourceApi("nps", async (api, client) => {
    const logs: string[] = [];
    const stop = new AbortController();
    let ended = false;
    const wait = untilFirstPolicy({
      kube: client,
      signal: stop.signal,
      log: (m) => logs.push(m),
      netns: ns.path,
    }).then(() => ended = true);
    try {
      await until(
        () => logs.some((l) => l.includes("no NetworkPolicy")),
        "the standby's first list",
      );
      assertEquals(await tableExists(ns, TABLE_NAME), false);
      assertEquals(await tableExists(ns, "someone-else"), true);
      assertEquals(ended, false, "no policy yet: still waiting");
      api.put(POLICIES, policy);
      await until(() => ended, "the end of the wait on the first policy");
    } finally {
      stop.abort();
      await wait;
    }
  });
});

Deno.test("standby: a policy that already exists ends the wait at once and the table is left alone", async () => {
  await using ns = await Netns.create("npt");
  await ns.sh("nft", "add table inet weft-netpol");
  await ns.sh("nft", "add chain inet weft-netpol from-before");
  await withFakeResourceApi("npt", async (api, client) => {
    api.put(POLICIES, policy);
    const logs: string[] = [];
    await untilFirstPolicy({
      kube: client,
      signal: new AbortController().signal,
      log: (m) => logs.push(m),
      netns: ns.path,
    });
    // The controller's first sync replaces it, not the standby.
    assertEquals(await tableExists(ns, TABLE_NAME), true);
    assertEquals(logs, []);
  });
});

Deno.test("standby: while the API does not serve NetworkPolicies it writes nothing, says so once and keeps waiting", async () => {
  await using ns = await Netns.create("npu");
  await ns.sh("nft", "add table inet weft-netpol");
  await withFakeResourceApi("npu", async (api, client) => {
    api.missing.add(POLICIES);
    const logs: string[] = [];
    const stop = new AbortController();
    let ended = false;
    const wait = untilFirstPolicy({
      kube: client,
      signal: stop.signal,
      log: (m) => logs.push(m),
      netns: ns.path,
    }).then(() => ended = true);
    try {
      await until(() => logs.length > 0, "the list error");
      assert(logs[0].includes("list/watch networkpolicies"), logs[0]);
      assertEquals(ended, false);
      assertEquals(await tableExists(ns, TABLE_NAME), true);
    } finally {
      stop.abort();
      await wait;
    }
    assertEquals(logs.length, 1, logs.join("\n"));
  });
});
