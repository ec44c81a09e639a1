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

const applyAs = (
  api: Awaited<ReturnType<typeof testApi>>,
  manager: string,
  yaml: string,
  force = false,
) =>
  api.call(
    "PATCH",
    `/api/v1/nodes/n1?fieldManager=${manager}${force ? "&force=true" : ""}`,
    yaml,
    { contentType: APPLY },
  );

Deno.test("apply removes what the manager applied before and no longer sets", async () => {
  await using api = await testApi();
  const first = await applyAs(
    api,
    "ops",
    [
      "apiVersion: v1",
      "kind: Node",
      "metadata: {name: n1, labels: {a: '1', b: '2'}}",
      "spec:",
      "  unschedulable: true",
      "  taints: [{key: k, effect: NoSchedule}]",
    ].join("\n"),
  );
  assertEquals(first.status, 201);
  const n1 = await first.json();
  assertEquals(n1.metadata.managedFields.length, 1);
  assertEquals(n1.metadata.managedFields[0].manager, "ops");
  assertEquals(n1.metadata.managedFields[0].operation, "Apply");
  assertEquals(
    n1.metadata.managedFields[0].fieldsV1["f:metadata"]["f:labels"],
    { "f:a": {}, "f:b": {} },
  );
  // Another writer (not an applier) sets a label of its own: it stays.
  await api.call("PATCH", "/api/v1/nodes/n1", {
    metadata: { labels: { c: "3" } },
  }, {
    contentType: "application/merge-patch+json",
  });
  const second = await applyAs(
    api,
    "ops",
    "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {a: '1'}}\n",
  );
  assertEquals(second.status, 200);
  const n2 = await second.json();
  assertEquals(n2.metadata.labels, { a: "1", c: "3" });
  assertEquals(n2.spec?.unschedulable, undefined);
  assertEquals(n2.spec?.taints, undefined);
  // The pod CIDR the server assigned is nobody's to remove.
  assertEquals(n2.metadata.managedFields.length, 1);
  // A PUT without managedFields keeps them.
  const put = await api.call("PUT", "/api/v1/nodes/n1", {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "n1", labels: { a: "1" } },
  });
  assertEquals((await put.json()).metadata.managedFields[0].manager, "ops");
});

Deno.test("two appliers: a conflicting value is 409 unless forced; shared fields stay", async () => {
  await using api = await testApi();
  const doc = (labels: string) =>
    `apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {${labels}}}\n`;
  assertEquals((await applyAs(api, "a", doc("x: '1', shared: s"))).status, 201);
  // Same value for a field another applier owns: no conflict, both own it.
  const same = await applyAs(api, "b", doc("shared: s, y: '2'"));
  assertEquals(same.status, 200);
  await same.body?.cancel();
  const clash = await applyAs(api, "b", doc("x: other"));
  assertEquals(clash.status, 409);
  const s = await clash.json();
  assertEquals(s.reason, "Conflict");
  assertMatch(s.message, /conflict with "a": \.metadata\.labels\.x/);
  assertEquals(s.details.causes[0].field, ".metadata.labels.x");
  const forced = await applyAs(api, "b", doc("x: other, shared: s"), true);
  assertEquals(forced.status, 200);
  assertEquals((await forced.json()).metadata.labels, {
    x: "other",
    shared: "s",
  });
  // "a" drops everything: x is now b's, shared is still b's too.
  const dropped = await applyAs(api, "a", doc(""));
  const n = await dropped.json();
  assertEquals(n.metadata.labels, { x: "other", shared: "s" });
});

Deno.test("apply tracks keyed list items and tolerates garbage managedFields", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/nodes", {
    metadata: {
      name: "n1",
      managedFields: [7, { manager: 1 }, {
        manager: "m",
        operation: "Apply",
        fieldsV1: "x",
      }],
    },
  });
  const res = await api.call(
    "PATCH",
    "/api/v1/nodes/n1/status?fieldManager=agent",
    "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  addresses: [{type: InternalIP, address: 10.0.0.1}]\n",
    { contentType: APPLY },
  );
  assertEquals(res.status, 200);
  assertEquals((await res.json()).status.addresses, [
    { type: "InternalIP", address: "10.0.0.1" },
  ]);
  const main = await applyAs(
    api,
    "m2",
    "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {taints: [{key: a, effect: NoSchedule}]}\n",
  );
  assertEquals(main.status, 200);
  const n = await main.json();
  const mine = n.metadata.managedFields.find((e: { manager: string }) =>
    e.manager === "m2"
  );
  assertEquals(mine.fieldsV1["f:spec"]["f:taints"], {});
});
