import { assert, assertEquals, assertMatch } from "@std/assert";
import { node, testApi } from "./_fixture.ts";

const MERGE = "application/merge-patch+json";
const SMP = "application/strategic-merge-patch+json";
const JSONP = "application/json-patch+json";

Deno.test("discovery documents list nodes, pods and their subresources", async () => {
  await using api = await testApi();
  const v = await (await api.call("GET", "/version")).json();
  assertEquals([v.major, v.minor], ["1", "32"]);
  assertEquals((await api.call("GET", "/api")).status, 200);
  const list = await (await api.call("GET", "/api/v1")).json();
  assertEquals(list.kind, "APIResourceList");
  assertEquals(
    list.resources.map((r: { name: string }) => r.name).sort(),
    [
      "events",
      "namespaces",
      "namespaces/status",
      "nodes",
      "nodes/proxy",
      "nodes/status",
      "pods",
      "pods/status",
    ],
  );
  const apis = await (await api.call("GET", "/apis")).json();
  assertEquals(apis.kind, "APIGroupList");
  assertEquals(apis.groups.map((g: { name: string }) => g.name), [
    "events.k8s.io",
    "networking.k8s.io",
  ]);
  const ev = await (await api.call("GET", "/apis/events.k8s.io/v1")).json();
  assertEquals(ev.groupVersion, "events.k8s.io/v1");
  assertEquals(ev.resources.map((r: { name: string }) => r.name), ["events"]);
  assertEquals(
    await (await api.call("GET", "/healthz", undefined, { token: null }))
      .text(),
    "ok",
  );
  assertEquals((await api.call("GET", "/readyz")).status, 200);
  assertEquals((await api.call("GET", "/livez")).status, 200);
  const oa = await api.call("GET", "/openapi/v2");
  assertEquals(oa.status, 200);
  assertEquals((await oa.json()).swagger, "2.0");
});

Deno.test("node create fills server-managed metadata; get and list return it", async () => {
  await using api = await testApi();
  const res = await api.call(
    "POST",
    "/api/v1/nodes",
    node("a", {
      metadata: { name: "a", uid: "forged", labels: { role: "edge" } },
    }),
  );
  assertEquals(res.status, 201);
  const a = await res.json();
  assertEquals(a.kind, "Node");
  assertEquals(a.apiVersion, "v1");
  assert(a.metadata.uid !== "forged");
  assertMatch(a.metadata.uid, /^[0-9a-f-]{36}$/);
  assertMatch(
    a.metadata.creationTimestamp,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
  );
  assertEquals(a.metadata.generation, 1);
  assertMatch(a.metadata.resourceVersion, /^[1-9]\d*$/);
  const got = await (await api.call("GET", "/api/v1/nodes/a")).json();
  assertEquals(got, a);
  const list = await (await api.call("GET", "/api/v1/nodes")).json();
  assertEquals(list.kind, "NodeList");
  assert(
    Number(list.metadata.resourceVersion) >= Number(a.metadata.resourceVersion),
  );
  assertEquals(list.items, [a]);
});

Deno.test("creating an existing node is 409 AlreadyExists", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/nodes", node("a"));
  const res = await api.call("POST", "/api/v1/nodes", node("a"));
  assertEquals(res.status, 409);
  const s = await res.json();
  assertEquals([s.kind, s.status, s.reason, s.code], [
    "Status",
    "Failure",
    "AlreadyExists",
    409,
  ]);
});

Deno.test("an invalid node name is 422 Invalid", async () => {
  await using api = await testApi();
  for (const name of ["Upper", "-a", "a_b", ""]) {
    const res = await api.call("POST", "/api/v1/nodes", node(name));
    assertEquals(res.status, 422, name);
    const s = await res.json();
    assertEquals(s.reason, "Invalid");
    assertMatch(s.message, /metadata\.name/);
  }
  const bad = await api.call("POST", "/api/v1/nodes", {
    metadata: { name: "ok", labels: { "a b": "x" } },
  });
  assertEquals(bad.status, 422);
});

Deno.test("a malformed JSON body is 400 BadRequest with a Status", async () => {
  await using api = await testApi();
  for (
    const [method, path] of [["POST", "/api/v1/nodes"], [
      "PUT",
      "/api/v1/nodes/a",
    ]]
  ) {
    if (method === "PUT") await api.call("POST", "/api/v1/nodes", node("a"));
    const res = await api.call(method, path, "{not json");
    assertEquals(res.status, 400);
    const s = await res.json();
    assertEquals([s.kind, s.apiVersion, s.status, s.reason, s.code], [
      "Status",
      "v1",
      "Failure",
      "BadRequest",
      400,
    ]);
  }
  const arr = await api.call("POST", "/api/v1/nodes", "[1]");
  assertEquals(arr.status, 400);
  const patch = await api.call("PATCH", "/api/v1/nodes/a", "{", {
    contentType: MERGE,
  });
  assertEquals(patch.status, 400);
});

Deno.test("unknown resources and nodes are 404 NotFound Status", async () => {
  await using api = await testApi();
  for (
    const p of [
      "/api/v1/services",
      "/apis/apps/v1/deployments",
      "/api/v2/nodes",
      "/api/v1/nodes/missing",
    ]
  ) {
    const res = await api.call("GET", p);
    assertEquals(res.status, 404, p);
    const s = await res.json();
    assertEquals([s.kind, s.reason, s.code], ["Status", "NotFound", 404]);
  }
  const d = await api.call("DELETE", "/api/v1/nodes/missing");
  assertEquals(d.status, 404);
});

Deno.test("a method the resource does not serve is 405", async () => {
  await using api = await testApi();
  const res = await api.call("DELETE", "/api/v1/nodes");
  assertEquals(res.status, 405);
  assertEquals((await res.json()).reason, "MethodNotAllowed");
});

Deno.test("requests without credentials are 401 Unauthorized", async () => {
  await using api = await testApi();
  for (
    const [m, p] of [["GET", "/api/v1/nodes"], ["GET", "/api"], [
      "POST",
      "/api/v1/nodes",
    ], ["GET", "/api/v1/pods"]]
  ) {
    const res = await api.call(m, p, m === "POST" ? node("x") : undefined, {
      token: null,
    });
    assertEquals(res.status, 401, p);
    const s = await res.json();
    assertEquals([s.kind, s.reason, s.code], ["Status", "Unauthorized", 401]);
  }
  const bad = await api.call("GET", "/api/v1/nodes", undefined, {
    token: "Bearer wrong",
  });
  assertEquals(bad.status, 401);
});

Deno.test("update with a stale resourceVersion is 409 Conflict", async () => {
  await using api = await testApi();
  const a = await (await api.call("POST", "/api/v1/nodes", node("a"))).json();
  const first = await api.call("PUT", "/api/v1/nodes/a", {
    ...a,
    metadata: { ...a.metadata, labels: { x: "1" } },
  });
  assertEquals(first.status, 200);
  const stale = await api.call("PUT", "/api/v1/nodes/a", {
    ...a,
    metadata: { ...a.metadata, labels: { x: "2" } },
  });
  assertEquals(stale.status, 409);
  const s = await stale.json();
  assertEquals([s.reason, s.code], ["Conflict", 409]);
  const now = await (await api.call("GET", "/api/v1/nodes/a")).json();
  assertEquals(now.metadata.labels, { x: "1" });
  const patch = await api.call("PATCH", "/api/v1/nodes/a", {
    metadata: {
      resourceVersion: a.metadata.resourceVersion,
      labels: { y: "1" },
    },
  }, { contentType: MERGE });
  assertEquals(patch.status, 409);
  const del = await api.call("DELETE", "/api/v1/nodes/a", {
    preconditions: { resourceVersion: a.metadata.resourceVersion },
  });
  assertEquals(del.status, 409);
});

Deno.test("PUT keeps uid, creationTimestamp and status; bumps generation on spec change", async () => {
  await using api = await testApi();
  const a = await (await api.call(
    "POST",
    "/api/v1/nodes",
    node("a", {
      status: { conditions: [{ type: "Ready", status: "True" }] },
    }),
  )).json();
  const res = await api.call("PUT", "/api/v1/nodes/a", {
    metadata: {
      name: "a",
      uid: "x",
      creationTimestamp: "2000-01-01T00:00:00Z",
    },
    spec: { unschedulable: true },
    status: { conditions: [] },
  });
  assertEquals(res.status, 200);
  const b = await res.json();
  assertEquals(b.metadata.uid, a.metadata.uid);
  assertEquals(b.metadata.creationTimestamp, a.metadata.creationTimestamp);
  assertEquals(b.metadata.generation, 2);
  assertEquals(b.spec.unschedulable, true);
  assertEquals(b.status, a.status);
  const wrong = await api.call("PUT", "/api/v1/nodes/a", {
    metadata: { name: "b" },
  });
  assertEquals(wrong.status, 400);
});

Deno.test("the status subresource changes only the status", async () => {
  await using api = await testApi();
  await api.call(
    "POST",
    "/api/v1/nodes",
    node("a", { metadata: { name: "a", labels: { k: "v" } } }),
  );
  const put = await api.call("PUT", "/api/v1/nodes/a/status", {
    metadata: { name: "a", labels: { k: "changed" } },
    spec: { unschedulable: true },
    status: { addresses: [{ type: "InternalIP", address: "10.0.0.1" }] },
  });
  assertEquals(put.status, 200);
  const p = await put.json();
  assertEquals(p.metadata.labels, { k: "v" });
  assertEquals(p.spec, undefined);
  assertEquals(p.status.addresses[0].address, "10.0.0.1");
  const patched = await api.call("PATCH", "/api/v1/nodes/a/status", {
    status: { conditions: [{ type: "Ready", status: "True" }] },
  }, { contentType: SMP });
  const q = await patched.json();
  assertEquals(q.status.conditions, [{ type: "Ready", status: "True" }]);
  assertEquals(q.status.addresses.length, 1);
  const get = await (await api.call("GET", "/api/v1/nodes/a/status")).json();
  assertEquals(get.status, q.status);
});

Deno.test("merge patch sets and removes labels and annotations", async () => {
  await using api = await testApi();
  await api.call(
    "POST",
    "/api/v1/nodes",
    node("a", { metadata: { name: "a", labels: { a: "1", b: "2" } } }),
  );
  const res = await api.call("PATCH", "/api/v1/nodes/a", {
    metadata: {
      labels: { a: null, c: "3" },
      annotations: { "flannel.alpha.coreos.com/backend-type": "vxlan" },
    },
  }, { contentType: MERGE });
  assertEquals(res.status, 200);
  const n = await res.json();
  assertEquals(n.metadata.labels, { b: "2", c: "3" });
  assertEquals(n.metadata.annotations, {
    "flannel.alpha.coreos.com/backend-type": "vxlan",
  });
});

Deno.test("strategic merge patch merges conditions and addresses by type", async () => {
  await using api = await testApi();
  await api.call(
    "POST",
    "/api/v1/nodes",
    node("a", {
      status: {
        conditions: [
          { type: "Ready", status: "False", reason: "Starting" },
          { type: "MemoryPressure", status: "False" },
        ],
        addresses: [
          { type: "InternalIP", address: "10.0.0.1" },
          { type: "Hostname", address: "a" },
        ],
      },
    }),
  );
  const res = await api.call("PATCH", "/api/v1/nodes/a/status", {
    status: {
      "$setElementOrder/conditions": [{ type: "Ready" }, {
        type: "MemoryPressure",
      }],
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady" }, {
        type: "DiskPressure",
        $patch: "delete",
      }],
      addresses: [{ type: "InternalIP", address: "10.0.0.2" }, {
        type: "Hostname",
        $patch: "delete",
      }],
    },
  }, { contentType: SMP });
  assertEquals(res.status, 200);
  const s = (await res.json()).status;
  assertEquals(s.conditions, [
    { type: "Ready", status: "True", reason: "KubeletReady" },
    { type: "MemoryPressure", status: "False" },
  ]);
  assertEquals(s.addresses, [{ type: "InternalIP", address: "10.0.0.2" }]);
});

Deno.test("strategic merge patch on metadata merges maps and deletes null keys", async () => {
  await using api = await testApi();
  await api.call(
    "POST",
    "/api/v1/nodes",
    node("a", { metadata: { name: "a", annotations: { x: "1", y: "2" } } }),
  );
  const res = await api.call("PATCH", "/api/v1/nodes/a", {
    metadata: { annotations: { x: null, z: "3" } },
  }, { contentType: SMP });
  assertEquals((await res.json()).metadata.annotations, { y: "2", z: "3" });
});

Deno.test("JSON patch add/replace/remove/test", async () => {
  await using api = await testApi();
  await api.call(
    "POST",
    "/api/v1/nodes",
    node("a", { metadata: { name: "a", labels: { a: "1" } } }),
  );
  const res = await api.call("PATCH", "/api/v1/nodes/a", [
    { op: "test", path: "/metadata/labels/a", value: "1" },
    { op: "add", path: "/metadata/labels/kubernetes.io~1os", value: "linux" },
    { op: "replace", path: "/metadata/labels/a", value: "2" },
    { op: "add", path: "/spec", value: { taints: [] } },
    {
      op: "add",
      path: "/spec/taints/-",
      value: { key: "k", effect: "NoSchedule" },
    },
  ], { contentType: JSONP });
  assertEquals(res.status, 200);
  const n = await res.json();
  assertEquals(n.metadata.labels, { a: "2", "kubernetes.io/os": "linux" });
  assertEquals(n.spec.taints, [{ key: "k", effect: "NoSchedule" }]);
  const failed = await api.call("PATCH", "/api/v1/nodes/a", [
    { op: "test", path: "/metadata/labels/a", value: "nope" },
  ], { contentType: JSONP });
  assertEquals(failed.status, 422);
  const missing = await api.call("PATCH", "/api/v1/nodes/a", [
    { op: "remove", path: "/metadata/labels/zzz" },
  ], { contentType: JSONP });
  assertEquals(missing.status, 400);
  const badType = await api.call("PATCH", "/api/v1/nodes/a", {}, {
    contentType: "text/plain",
  });
  assertEquals(badType.status, 415);
});

Deno.test("label selectors: =, ==, !=, in, notin, exists, !exists", async () => {
  await using api = await testApi();
  const labels: Record<string, Record<string, string>> = {
    a: { zone: "x", role: "edge" },
    b: { zone: "y" },
    c: { zone: "z", gpu: "" },
  };
  for (const [name, l] of Object.entries(labels)) {
    await api.call(
      "POST",
      "/api/v1/nodes",
      node(name, { metadata: { name, labels: l } }),
    );
  }
  const names = async (sel: string) => {
    const r = await api.call(
      "GET",
      `/api/v1/nodes?labelSelector=${encodeURIComponent(sel)}`,
    );
    assertEquals(r.status, 200, sel);
    return (await r.json()).items.map((n: { metadata: { name: string } }) =>
      n.metadata.name
    );
  };
  assertEquals(await names("zone=x"), ["a"]);
  assertEquals(await names("zone==y"), ["b"]);
  assertEquals(await names("zone!=x"), ["b", "c"]);
  assertEquals(await names("zone in (x, z)"), ["a", "c"]);
  assertEquals(await names("zone notin (x,z)"), ["b"]);
  assertEquals(await names("gpu"), ["c"]);
  assertEquals(await names("!role"), ["b", "c"]);
  assertEquals(await names("zone in (x,y),!role"), ["b"]);
  const bad = await api.call(
    "GET",
    `/api/v1/nodes?labelSelector=${encodeURIComponent("zone in (x")}`,
  );
  assertEquals(bad.status, 400);
});

Deno.test("field selector metadata.name picks one node; unsupported fields are 400", async () => {
  await using api = await testApi();
  for (const n of ["a", "b"]) await api.call("POST", "/api/v1/nodes", node(n));
  const r = await (await api.call(
    "GET",
    "/api/v1/nodes?fieldSelector=metadata.name%3Db",
  )).json();
  assertEquals(
    r.items.map((n: { metadata: { name: string } }) => n.metadata.name),
    ["b"],
  );
  const r2 = await (await api.call(
    "GET",
    "/api/v1/nodes?fieldSelector=metadata.name!%3Db",
  )).json();
  assertEquals(r2.items.length, 1);
  const bad = await api.call(
    "GET",
    "/api/v1/nodes?fieldSelector=spec.podCIDR%3Dx",
  );
  assertEquals(bad.status, 400);
  assertMatch((await bad.json()).message, /field label not supported/);
});

Deno.test("delete removes the node and answers a Success Status", async () => {
  await using api = await testApi();
  const a = await (await api.call("POST", "/api/v1/nodes", node("a"))).json();
  const res = await api.call("DELETE", "/api/v1/nodes/a", {
    propagationPolicy: "Background",
  });
  assertEquals(res.status, 200);
  const s = await res.json();
  assertEquals([s.kind, s.status, s.details.name, s.details.uid], [
    "Status",
    "Success",
    "a",
    a.metadata.uid,
  ]);
  assertEquals((await api.call("GET", "/api/v1/nodes/a")).status, 404);
});

Deno.test("kubectl's Table Accept header gets NAME STATUS ROLES AGE VERSION", async () => {
  await using api = await testApi();
  await api.call(
    "POST",
    "/api/v1/nodes",
    node("a", {
      metadata: {
        name: "a",
        labels: {
          "node-role.kubernetes.io/control-plane": "true",
          "node-role.kubernetes.io/master": "true",
        },
      },
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: "Ready", status: "True" }],
        nodeInfo: { kubeletVersion: "v1.32.0+weft" },
      },
    }),
  );
  await api.call("POST", "/api/v1/nodes", node("b"));
  const accept =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
  const t =
    await (await api.call("GET", "/api/v1/nodes", undefined, { accept }))
      .json();
  assertEquals(t.kind, "Table");
  assertEquals(
    t.columnDefinitions.filter((c: { priority: number }) => c.priority === 0)
      .map((c: { name: string }) => c.name),
    ["Name", "Status", "Roles", "Age", "Version"],
  );
  assertEquals(t.rows[0].cells.slice(0, 3), [
    "a",
    "Ready,SchedulingDisabled",
    "control-plane,master",
  ]);
  assertEquals(t.rows[1].cells.slice(0, 3), ["b", "Unknown", "<none>"]);
  assertEquals(t.rows[0].object.kind, "PartialObjectMetadata");
  const one =
    await (await api.call("GET", "/api/v1/nodes/b", undefined, { accept }))
      .json();
  assertEquals(one.rows.length, 1);
  const plain = await (await api.call("GET", "/api/v1/nodes", undefined, {
    accept: "application/json",
  })).json();
  assertEquals(plain.kind, "NodeList");
});

Deno.test("the proxy subresource goes to deps.nodeProxy with the rest of the path", async () => {
  const seen: string[] = [];
  await using api = await testApi({
    deps: {
      nodeProxy: (node, path, req) => {
        seen.push(`${req.method} ${node} ${path}`);
        return Promise.resolve(new Response("proxied"));
      },
    },
  });
  await api.call("POST", "/api/v1/nodes", node("a"));
  const res = await api.call("GET", "/api/v1/nodes/a/proxy/status?x=1");
  assertEquals(await res.text(), "proxied");
  await (await api.call("GET", "/api/v1/nodes/a/proxy")).text();
  assertEquals(seen, ["GET a /status?x=1", "GET a /"]);
  assertEquals((await api.call("GET", "/api/v1/nodes/zz/proxy/x")).status, 404);
});

Deno.test("without a node proxy the proxy subresource is 503", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/nodes", node("a"));
  const res = await api.call("GET", "/api/v1/nodes/a/proxy/status");
  assertEquals(res.status, 503);
  assertEquals((await res.json()).reason, "ServiceUnavailable");
});

Deno.test("extra routes are served before the API's own", async () => {
  await using api = await testApi({
    deps: { extraRoutes: [(app) => app.get("/ping", (c) => c.text("pong"))] },
  });
  assertEquals(
    await (await api.call("GET", "/ping", undefined, { token: null })).text(),
    "pong",
  );
});

Deno.test("a request body over 3 MiB is 413 with a Status", async () => {
  await using api = await testApi();
  const res = await api.call("POST", "/api/v1/nodes", {
    metadata: { name: "big", annotations: { a: "x".repeat(3 * 1024 * 1024) } },
  });
  assertEquals(res.status, 413);
  const s = await res.json();
  assertEquals([s.kind, s.reason, s.code], [
    "Status",
    "RequestEntityTooLarge",
    413,
  ]);
});
