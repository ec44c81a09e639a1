// Events: recorded by the server for node registration and pod CIDR
// assignment, posted by nodes, served as core/v1 and events.k8s.io/v1 from
// one store, selected by involvedObject, and expired after an hour.

import { assert, assertEquals } from "@std/assert";
import { Registry } from "../../src/api/registry.ts";
import { EVENTS } from "../../src/api/resources.ts";
import { node, nodeToken, testApi } from "./_fixture.ts";

interface Ev {
  metadata: { name: string; namespace: string };
  reason: string;
  message?: string;
  note?: string;
  involvedObject?: { kind: string; name: string; uid?: string };
  regarding?: { kind: string; name: string };
}

const event = (name: string, extra: Record<string, unknown> = {}) => ({
  metadata: { name },
  involvedObject: { kind: "Node", name: "n1", uid: "n1" },
  reason: "TunnelConnected",
  message: "connected",
  source: { component: "weft-agent", host: "n1" },
  ...extra,
});

Deno.test("the server records RegisteredNode and PodCIDRAssigned for a new node", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/16" });
  const n = await (await api.call("POST", "/api/v1/nodes", node("edge-1")))
    .json();
  const list = await (await api.call(
    "GET",
    `/api/v1/events?fieldSelector=involvedObject.kind%3DNode,involvedObject.name%3Dedge-1,involvedObject.uid%3D${n.metadata.uid}`,
  )).json();
  const evs = list.items as Ev[];
  assertEquals(evs.map((e) => e.reason).sort(), [
    "PodCIDRAssigned",
    "RegisteredNode",
  ]);
  assert(evs.every((e) => e.metadata.namespace === "default"));
  assert(
    evs.some((e) => e.message?.includes("10.42.0.0/24")),
    JSON.stringify(evs),
  );
  // An update that does not change the pod CIDR records nothing more.
  await api.call("PATCH", "/api/v1/nodes/edge-1", {
    metadata: { labels: { a: "b" } },
  }, {
    contentType: "application/merge-patch+json",
  });
  const again = await (await api.call("GET", "/api/v1/events")).json();
  assertEquals(again.items.length, 2);
});

Deno.test("events.k8s.io/v1 serves the same events, converted both ways", async () => {
  await using api = await testApi();
  const core = await api.call(
    "POST",
    "/api/v1/namespaces/default/events",
    event("e1"),
    {
      token: nodeToken("n1"),
    },
  );
  assertEquals(core.status, 201);
  const v1 = await (await api.call(
    "GET",
    "/apis/events.k8s.io/v1/namespaces/default/events/e1",
  )).json();
  assertEquals(v1.apiVersion, "events.k8s.io/v1");
  assertEquals(v1.note, "connected");
  assertEquals(v1.regarding.name, "n1");
  assertEquals(v1.deprecatedSource, { component: "weft-agent", host: "n1" });
  assertEquals(v1.involvedObject, undefined);
  const created = await api.call(
    "POST",
    "/apis/events.k8s.io/v1/namespaces/default/events",
    {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: "e2" },
      regarding: { kind: "Node", name: "n2" },
      reason: "BackendFailed",
      note: "vxlan: no such device",
      type: "Warning",
      reportingController: "weft-agent",
      reportingInstance: "n2",
      action: "Start",
    },
  );
  assertEquals(created.status, 201);
  const asCore =
    await (await api.call("GET", "/api/v1/namespaces/default/events/e2"))
      .json();
  assertEquals(asCore.apiVersion, "v1");
  assertEquals(asCore.message, "vxlan: no such device");
  assertEquals(asCore.involvedObject, { kind: "Node", name: "n2" });
  assertEquals(asCore.reportingComponent, "weft-agent");
  const selected = await (await api.call(
    "GET",
    "/apis/events.k8s.io/v1/events?fieldSelector=involvedObject.name%3Dn2",
  )).json();
  assertEquals(selected.items.map((e: Ev) => e.metadata.name), ["e2"]);
  const missing = await api.call("POST", "/api/v1/namespaces/default/events", {
    metadata: { name: "e3" },
    reason: "X",
  });
  assertEquals(missing.status, 422);
});

Deno.test("a node may post events but not delete them", async () => {
  await using api = await testApi();
  const token = nodeToken("n1");
  await api.call("POST", "/api/v1/namespaces/default/events", event("e1"), {
    token,
  });
  const del = await api.call(
    "DELETE",
    "/api/v1/namespaces/default/events/e1",
    undefined,
    {
      token,
    },
  );
  assertEquals(del.status, 403);
  const nobody = await api.call(
    "POST",
    "/api/v1/namespaces/default/events",
    event("e2"),
    {
      token: "Bearer nobody",
    },
  );
  assertEquals(nobody.status, 403);
});

Deno.test("events expire an hour after they last happened", async () => {
  await using api = await testApi();
  const old = new Date(Date.now() - 2 * 3600_000).toISOString().replace(
    /\.\d+Z$/,
    "Z",
  );
  const recent = new Date(Date.now() - 60_000).toISOString().replace(
    /\.\d+Z$/,
    "Z",
  );
  await api.call(
    "POST",
    "/api/v1/namespaces/default/events",
    event("old", {
      firstTimestamp: old,
      lastTimestamp: old,
    }),
  );
  await api.call(
    "POST",
    "/api/v1/namespaces/default/events",
    event("recent", {
      firstTimestamp: old,
      lastTimestamp: recent,
    }),
  );
  const registry = new Registry(api.store);
  assertEquals(await registry.expire(EVENTS, Date.now(), true), 1);
  const list = await (await api.call("GET", "/api/v1/events")).json();
  assertEquals(list.items.map((e: Ev) => e.metadata.name), ["recent"]);
  // An hour later the recent one goes too.
  assertEquals(await registry.expire(EVENTS, Date.now() + 3600_000, true), 1);
  // Throttled: a sweep right after another does nothing.
  assertEquals(await registry.expire(EVENTS, Date.now() + 3600_001), 0);
});
