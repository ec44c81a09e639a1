// Server-side apply (application/apply-patch+yaml) and dryRun=All.

import { assertEquals, assertMatch } from "@std/assert";
import { node, nodeToken, testApi } from "./_fixture.ts";

const APPLY = "application/apply-patch+yaml";

Deno.test("apply creates a missing object, then merges the configuration into it", async () => {
  await using api = await testApi();
  const yaml = [
    "apiVersion: v1",
    "kind: Namespace",
    "metadata:",
    "  name: team-a",
    "  labels: {owner: ops}",
  ].join("\n");
  const created = await api.call(
    "PATCH",
    "/api/v1/namespaces/team-a?fieldManager=t",
    yaml,
    {
      contentType: APPLY,
    },
  );
  assertEquals(created.status, 201);
  assertEquals((await created.json()).metadata.labels.owner, "ops");
  const merged = await api.call(
    "PATCH",
    "/api/v1/namespaces/team-a?fieldManager=t&force=true",
    yaml.replace("owner: ops", "owner: dev, tier: x"),
    { contentType: APPLY },
  );
  assertEquals(merged.status, 200);
  const ns = await merged.json();
  assertEquals(ns.metadata.labels, {
    "kubernetes.io/metadata.name": "team-a",
    owner: "dev",
    tier: "x",
  });
  const noManager = await api.call("PATCH", "/api/v1/namespaces/team-a", yaml, {
    contentType: APPLY,
  });
  assertEquals(noManager.status, 400);
  await noManager.body?.cancel();
  const wrongName = await api.call(
    "PATCH",
    "/api/v1/namespaces/other?fieldManager=t",
    yaml,
    {
      contentType: APPLY,
    },
  );
  assertEquals(wrongName.status, 400);
  await wrongName.body?.cancel();
});

Deno.test("apply merges lists by their merge key and keeps the node's binding rules", async () => {
  await using api = await testApi();
  await api.call(
    "POST",
    "/api/v1/nodes",
    node("n1", {
      status: { conditions: [{ type: "Ready", status: "True" }] },
    }),
  );
  const res = await api.call(
    "PATCH",
    "/api/v1/nodes/n1/status?fieldManager=agent",
    JSON.stringify({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "n1" },
      status: { conditions: [{ type: "NetworkUnavailable", status: "False" }] },
    }),
    { contentType: APPLY, token: nodeToken("n1") },
  );
  assertEquals(res.status, 200);
  const n = await res.json();
  assertEquals(
    n.status.conditions.map((c: { type: string }) => c.type),
    ["Ready", "NetworkUnavailable"],
  );
  const other = await api.call(
    "PATCH",
    "/api/v1/nodes/n1?fieldManager=agent",
    "metadata: {name: n1, labels: {a: b}}",
    { contentType: APPLY, token: nodeToken("n2") },
  );
  assertEquals(other.status, 403);
  await other.body?.cancel();
});

Deno.test("a YAML alias bomb in an apply is refused, not expanded", async () => {
  await using api = await testApi();
  const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 0; i < 8; i++) {
    const prev = String.fromCharCode(97 + i);
    const cur = String.fromCharCode(98 + i);
    lines.push(
      `${cur}: &${cur} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`,
    );
  }
  lines.push("metadata: {name: n1}");
  const res = await api.call(
    "PATCH",
    "/api/v1/nodes/n1?fieldManager=t",
    lines.join("\n"),
    {
      contentType: APPLY,
    },
  );
  assertEquals(res.status, 400);
  assertMatch((await res.json()).message, /larger than/);
  const notYaml = await api.call(
    "PATCH",
    "/api/v1/nodes/n1?fieldManager=t",
    "a: [",
    {
      contentType: APPLY,
    },
  );
  assertEquals(notYaml.status, 400);
  await notYaml.body?.cancel();
});

Deno.test("dryRun=All answers like the write but stores nothing", async () => {
  await using api = await testApi();
  const created = await api.call(
    "POST",
    "/api/v1/nodes?dryRun=All",
    node("n1"),
  );
  assertEquals(created.status, 201);
  assertEquals((await created.json()).metadata.name, "n1");
  assertEquals((await api.call("GET", "/api/v1/nodes/n1")).status, 404);
  await api.call("POST", "/api/v1/nodes", node("n1"));
  const patched = await api.call("PATCH", "/api/v1/nodes/n1?dryRun=All", {
    metadata: { labels: { a: "b" } },
  }, { contentType: "application/merge-patch+json" });
  assertEquals((await patched.json()).metadata.labels, { a: "b" });
  const got = await (await api.call("GET", "/api/v1/nodes/n1")).json();
  assertEquals(got.metadata.labels, undefined);
  const del = await api.call("DELETE", "/api/v1/nodes/n1?dryRun=All");
  assertEquals(del.status, 200);
  await del.body?.cancel();
  assertEquals((await api.call("GET", "/api/v1/nodes/n1")).status, 200);
  const bad = await api.call("DELETE", "/api/v1/nodes/n1?dryRun=Some");
  assertEquals(bad.status, 400);
  await bad.body?.cancel();
});
