// Events the server records about its own decisions, through its registry
// (storeEventSink): a refused pod CIDR, and repeated events aggregated.

import { assertEquals, assertMatch } from "@std/assert";
import { storeEventSink } from "../../src/api/mod.ts";
import { EventRecorder, type EventSink } from "../../src/kube/mod.ts";
import { node, testApi } from "./_fixture.ts";

interface Ev {
  reason: string;
  type: string;
  message: string;
  count: number;
  involvedObject: { name: string };
}

Deno.test("a pod CIDR the server refuses is a PodCIDRRejected warning on the node", async () => {
  // The app needs the recorder, the recorder the app's store.
  const late: { sink?: EventSink } = {};
  const events = new EventRecorder({
    create: (ev) => late.sink!.create(ev),
    bump: (ev) => late.sink!.bump(ev),
  }, { component: "weft-server", log: (m) => api.logs.push(m) });
  await using api = await testApi({
    clusterCidrs: "10.42.0.0/16",
    deps: { events },
  });
  late.sink = storeEventSink(api.store);
  const bad = node("rogue", { spec: { podCIDR: "192.168.0.0/24" } });
  const r = await api.call("POST", "/api/v1/nodes", bad);
  assertEquals(r.status, 422);
  await r.body?.cancel();
  await events.flush();
  const list = await (await api.call("GET", "/api/v1/events")).json();
  const evs = list.items as Ev[];
  assertEquals(api.logs, []);
  assertEquals(evs.map((e) => [e.reason, e.type, e.involvedObject.name]), [
    ["PodCIDRRejected", "Warning", "rogue"],
  ]);
  assertMatch(evs[0].message, /192\.168\.0\.0\/24/);
});

Deno.test("the server's recorder bumps count for a repeated event in its store", async () => {
  await using api = await testApi();
  const events = new EventRecorder(storeEventSink(api.store), {
    component: "weft-server",
    log: (m) => api.logs.push(m),
  });
  const spec = {
    regarding: { kind: "Node", name: "n1" },
    reason: "TunnelConnected",
    message: "Tunnel session of node n1 connected",
  };
  events.record(spec);
  events.record(spec);
  events.record(spec);
  await events.flush();
  const list = await (await api.call("GET", "/api/v1/events")).json();
  assertEquals(api.logs, []);
  assertEquals(list.items.map((e: Ev) => [e.reason, e.count]), [
    ["TunnelConnected", 3],
  ]);
});
