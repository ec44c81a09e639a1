import { assertEquals, assertMatch } from "@std/assert";
import { node, nodeToken, testApi } from "./_fixture.ts";

const MERGE = "application/merge-patch+json";

Deno.test("a node may create, read and patch its own Node", async () => {
  await using api = await testApi();
  const t = { token: nodeToken("a") };
  assertEquals(
    (await api.call("POST", "/api/v1/nodes", node("a"), t)).status,
    201,
  );
  assertEquals(
    (await api.call("GET", "/api/v1/nodes/a", undefined, t)).status,
    200,
  );
  assertEquals(
    (await api.call("GET", "/api/v1/nodes", undefined, t)).status,
    200,
  );
  const p = await api.call("PATCH", "/api/v1/nodes/a", {
    metadata: { annotations: { k: "v" } },
  }, {
    ...t,
    contentType: MERGE,
  });
  assertEquals(p.status, 200);
  const s = await api.call("PATCH", "/api/v1/nodes/a/status", {
    status: { conditions: [{ type: "Ready", status: "True" }] },
  }, { ...t, contentType: MERGE });
  assertEquals(s.status, 200);
});

Deno.test("a node patching another node is 403 Forbidden with a Status", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/nodes", node("b"));
  const t = { token: nodeToken("a") };
  const res = await api.call("PATCH", "/api/v1/nodes/b", {
    metadata: { labels: { x: "y" } },
  }, {
    ...t,
    contentType: MERGE,
  });
  assertEquals(res.status, 403);
  const s = await res.json();
  assertEquals([s.kind, s.status, s.reason, s.code], [
    "Status",
    "Failure",
    "Forbidden",
    403,
  ]);
  assertMatch(s.message, /system:node:a.*not allowed to modify node "b"/);
  for (
    const [m, p, body] of [
      ["PUT", "/api/v1/nodes/b", node("b")],
      ["PUT", "/api/v1/nodes/b/status", node("b")],
      ["POST", "/api/v1/nodes", node("b2")],
      ["DELETE", "/api/v1/nodes/b", undefined],
    ] as const
  ) {
    assertEquals((await api.call(m, p, body, t)).status, 403, `${m} ${p}`);
  }
  const b = await (await api.call("GET", "/api/v1/nodes/b")).json();
  assertEquals(b.metadata.labels, undefined);
});

Deno.test("a node may not delete even its own Node, nor proxy", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/nodes", node("a"));
  const t = { token: nodeToken("a") };
  assertEquals(
    (await api.call("DELETE", "/api/v1/nodes/a", undefined, t)).status,
    403,
  );
  assertEquals(
    (await api.call("GET", "/api/v1/nodes/a/proxy/x", undefined, t)).status,
    403,
  );
});

Deno.test("a node may create, update and delete only pods bound to itself", async () => {
  await using api = await testApi();
  const t = { token: nodeToken("a") };
  const pod = (name: string, nodeName?: string) => ({
    metadata: { name },
    spec: {
      containers: [{ name: "c", image: "x" }],
      ...(nodeName ? { nodeName } : {}),
    },
  });
  assertEquals(
    (await api.call(
      "POST",
      "/api/v1/namespaces/default/pods",
      pod("p1", "a"),
      t,
    )).status,
    201,
  );
  assertEquals(
    (await api.call(
      "POST",
      "/api/v1/namespaces/default/pods",
      pod("p2", "b"),
      t,
    )).status,
    403,
  );
  assertEquals(
    (await api.call("POST", "/api/v1/namespaces/default/pods", pod("p3"), t))
      .status,
    403,
  );
  await api.call("POST", "/api/v1/namespaces/default/pods", pod("q", "b"));
  const steal = await api.call("PATCH", "/api/v1/namespaces/default/pods/q", {
    metadata: { labels: { x: "1" } },
  }, {
    ...t,
    contentType: MERGE,
  });
  assertEquals(steal.status, 403);
  const move = await api.call("PATCH", "/api/v1/namespaces/default/pods/p1", {
    spec: { nodeName: "b" },
  }, {
    ...t,
    contentType: MERGE,
  });
  assertEquals(move.status, 403);
  const ok = await api.call(
    "PATCH",
    "/api/v1/namespaces/default/pods/p1/status",
    { status: { phase: "Running" } },
    {
      ...t,
      contentType: MERGE,
    },
  );
  assertEquals(ok.status, 200);
  assertEquals(
    (await api.call("GET", "/api/v1/pods", undefined, t)).status,
    200,
  );
  // Delete: only pods bound to the node (the containers its CNI attached).
  assertEquals(
    (await api.call(
      "DELETE",
      "/api/v1/namespaces/default/pods/q",
      undefined,
      t,
    ))
      .status,
    403,
  );
  assertEquals(
    (await api.call("GET", "/api/v1/namespaces/default/pods/q")).status,
    200,
  );
  assertEquals(
    (await api.call(
      "DELETE",
      "/api/v1/namespaces/default/pods/p1",
      undefined,
      t,
    )).status,
    200,
  );
  assertEquals(
    (await api.call("GET", "/api/v1/namespaces/default/pods/p1")).status,
    404,
  );
});

Deno.test("an identity that is neither admin nor node is 403 on resources", async () => {
  await using api = await testApi();
  const t = { token: "Bearer nobody" };
  assertEquals(
    (await api.call("GET", "/api/v1/nodes", undefined, t)).status,
    403,
  );
  assertEquals((await api.call("GET", "/api/v1", undefined, t)).status, 200);
});
