// The Event helper agents call: a node credential records an event about
// its node; the server keeps it where kubectl describe looks for it.

import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  EventRecorder,
  KubeClient,
  KubeError,
  kubeEventSink,
  newEvent,
  postEvent,
} from "../../src/kube/mod.ts";
import type { KubeObject } from "../../src/kube/types.ts";
import { testServer } from "../api/_server.ts";

Deno.test("newEvent builds a core/v1 Event in the object's namespace, bounded", () => {
  const now = new Date("2026-01-02T03:04:05.678Z");
  const ev = newEvent({
    regarding: { kind: "Node", name: "n".repeat(300) },
    reason: "BackendFailed",
    message: "x".repeat(5000),
    type: "Warning",
    component: "flannel",
    host: "edge-1",
  }, now);
  assertEquals(ev.metadata.namespace, "default");
  assert(ev.metadata.name.length <= 253, ev.metadata.name);
  assertEquals(ev.message.length, 1024);
  assertEquals(ev.firstTimestamp, "2026-01-02T03:04:05Z");
  assertEquals(ev.source, { component: "flannel", host: "edge-1" });
  assertEquals(ev.involvedObject.apiVersion, "v1");
  const pod = newEvent({
    regarding: { kind: "Pod", name: "web", namespace: "kube-system" },
    reason: "X",
    message: "m",
    component: "cni",
  });
  assertEquals([pod.metadata.namespace, pod.type], ["kube-system", "Normal"]);
});

Deno.test("postEvent: a node records an event about itself; it lists by involvedObject", async () => {
  await using s = await testServer();
  using node = new KubeClient({
    server: s.url,
    token: "node:edge-1",
    caPem: s.tls.caPem,
  });
  const ev = await postEvent(node, {
    regarding: { kind: "Node", name: "edge-1", uid: "edge-1" },
    reason: "TunnelConnected",
    message: "connected to 127.0.0.1:6443",
    component: "weft-agent",
    host: "edge-1",
  });
  assertEquals(ev.reason, "TunnelConnected");
  using admin = new KubeClient({
    server: s.url,
    token: "admin-token",
    caPem: s.tls.caPem,
  });
  const list = await admin.list("/api/v1/events", {
    fieldSelector: "involvedObject.kind=Node,involvedObject.name=edge-1",
  });
  assertEquals(list.items.map((e) => e.metadata.name), [ev.metadata.name]);
  // A node may not delete events.
  const err = await assertRejects(
    () => node.delete(`/api/v1/namespaces/default/events/${ev.metadata.name}`),
    KubeError,
  );
  assertEquals(err.status, 403);
});

Deno.test("kubeEventSink: a node's recorder creates once, then bumps count with merge patches", async () => {
  await using s = await testServer();
  using node = new KubeClient({
    server: s.url,
    token: "node:edge-1",
    caPem: s.tls.caPem,
  });
  const outcomes: string[] = [];
  const rec = new EventRecorder(kubeEventSink(node), {
    component: "weft-agent",
    host: "edge-1",
    outcome: (o) => outcomes.push(o),
  });
  const spec = {
    regarding: { kind: "Node", name: "edge-1", uid: "edge-1" },
    reason: "FlannelFailed",
    type: "Warning" as const,
    message: "flannel failed (boom); restarting it",
  };
  for (let i = 0; i < 3; i++) rec.record(spec);
  await rec.flush();
  assertEquals(outcomes, ["created", "aggregated", "aggregated"]);
  using admin = new KubeClient({
    server: s.url,
    token: "admin-token",
    caPem: s.tls.caPem,
  });
  const list = await admin.list<KubeObject & { reason: string; count: number }>(
    "/api/v1/events",
  );
  assertEquals(list.items.map((e) => [e.reason, e.count]), [
    ["FlannelFailed", 3],
  ]);
});
