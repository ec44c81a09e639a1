// Namespaces as objects: the system ones exist from the start, carry the
// kubernetes.io/metadata.name label, guard namespaced creates, and take
// their objects with them when deleted.

import { assertEquals, assertMatch } from "@std/assert";
import { nodeToken, testApi } from "./_fixture.ts";

const pod = (name: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name },
  spec: { containers: [{ name: "c", image: "busybox" }] },
});

Deno.test("default and kube-system exist and carry kubernetes.io/metadata.name", async () => {
  await using api = await testApi();
  const list = await (await api.call("GET", "/api/v1/namespaces")).json();
  assertEquals(list.kind, "NamespaceList");
  assertEquals(
    list.items.map((n: { metadata: { name: string } }) => n.metadata.name),
    ["default", "kube-system"],
  );
  for (const ns of list.items) {
    assertEquals(
      ns.metadata.labels["kubernetes.io/metadata.name"],
      ns.metadata.name,
    );
    assertEquals(ns.status.phase, "Active");
  }
});

Deno.test("a created namespace gets the name label, which a client cannot change", async () => {
  await using api = await testApi();
  const res = await api.call("POST", "/api/v1/namespaces", {
    metadata: {
      name: "team-a",
      labels: { "kubernetes.io/metadata.name": "forged", env: "dev" },
    },
  });
  assertEquals(res.status, 201);
  const ns = await res.json();
  assertEquals(ns.metadata.labels, {
    "kubernetes.io/metadata.name": "team-a",
    env: "dev",
  });
  const patched = await api.call("PATCH", "/api/v1/namespaces/team-a", {
    metadata: { labels: { "kubernetes.io/metadata.name": null } },
  }, { contentType: "application/merge-patch+json" });
  assertEquals(
    (await patched.json()).metadata.labels["kubernetes.io/metadata.name"],
    "team-a",
  );
  const dotted = await api.call("POST", "/api/v1/namespaces", {
    metadata: { name: "a.b" },
  });
  assertEquals(dotted.status, 422);
});

Deno.test("creating in a missing namespace is 404 for the namespace", async () => {
  await using api = await testApi();
  const res = await api.call(
    "POST",
    "/api/v1/namespaces/nope/pods",
    pod("web"),
  );
  assertEquals(res.status, 404);
  const s = await res.json();
  assertEquals([s.reason, s.details.kind, s.details.name], [
    "NotFound",
    "namespaces",
    "nope",
  ]);
  assertMatch(s.message, /namespaces "nope" not found/);
});

Deno.test("deleting a namespace deletes its objects; system namespaces stay", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/namespaces", { metadata: { name: "tmp" } });
  assertEquals(
    (await api.call("POST", "/api/v1/namespaces/tmp/pods", pod("web"))).status,
    201,
  );
  assertEquals(
    (await api.call("DELETE", "/api/v1/namespaces/tmp")).status,
    200,
  );
  assertEquals(
    (await api.call("GET", "/api/v1/namespaces/tmp/pods/web")).status,
    404,
  );
  for (const ns of ["default", "kube-system"]) {
    const res = await api.call("DELETE", `/api/v1/namespaces/${ns}`);
    assertEquals(res.status, 403);
    assertEquals((await res.json()).reason, "Forbidden");
  }
});

Deno.test("nodes may read namespaces but not write them", async () => {
  await using api = await testApi();
  const token = nodeToken("n1");
  assertEquals(
    (await api.call("GET", "/api/v1/namespaces", undefined, { token })).status,
    200,
  );
  const res = await api.call("POST", "/api/v1/namespaces", {
    metadata: { name: "x" },
  }, { token });
  assertEquals(res.status, 403);
});
