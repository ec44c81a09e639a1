// /metrics on the API: who may read it, what the request middleware counts,
// and the node proxy path reserved for the metrics credential.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { apiOpenWatches, apiRequests } from "../../src/metrics/mod.ts";
import { requestAttributes } from "../../src/api/metrics.ts";
import { node, testApi } from "./_fixture.ts";

Deno.test("requestAttributes() names kube verbs and served resources only", () => {
  const at = (method: string, path: string, ct = "") =>
    requestAttributes(
      new Request(`http://x${path}`, {
        method,
        headers: ct ? { "content-type": ct } : {},
      }),
    );
  assertEquals(at("GET", "/api/v1/nodes"), {
    verb: "LIST",
    group: "",
    resource: "nodes",
    subresource: "",
  });
  assertEquals(at("GET", "/api/v1/nodes?watch=true").verb, "WATCH");
  assertEquals(at("GET", "/api/v1/nodes/a").verb, "GET");
  assertEquals(at("GET", "/api/v1/namespaces/default").resource, "namespaces");
  assertEquals(at("GET", "/api/v1/namespaces/kube-system/pods/p/status"), {
    verb: "GET",
    group: "",
    resource: "pods",
    subresource: "status",
  });
  assertEquals(
    at("PATCH", "/api/v1/nodes/a", "application/apply-patch+yaml").verb,
    "APPLY",
  );
  assertEquals(at("GET", "/api/v1/nodes/a/proxy/metrics").verb, "CONNECT");
  assertEquals(
    at("GET", "/apis/events.k8s.io/v1/namespaces/d/events").group,
    "events.k8s.io",
  );
  // Hostile paths: no label value comes from the URL.
  for (
    const p of ["/api/v1/x%00y", "/apis/evil/v1/things", "/" + "a".repeat(5000)]
  ) {
    const a = at("DELETE", p);
    assertEquals([a.group, a.resource, a.subresource], ["", "", ""]);
  }
});

Deno.test("/metrics needs the admin or a system:monitoring identity", async () => {
  await using api = await testApi({
    deps: {
      authenticate: (req) => {
        const h = req.headers.get("authorization");
        if (h === "Bearer admin-token") {
          return Promise.resolve({ user: "a", groups: ["system:masters"] });
        }
        if (h === "Bearer mon") {
          return Promise.resolve({ user: "m", groups: ["system:monitoring"] });
        }
        if (h === "Bearer node:n1") {
          return Promise.resolve({
            user: "system:node:n1",
            groups: ["system:nodes"],
            node: "n1",
          });
        }
        return Promise.resolve(null);
      },
    },
  });
  assertEquals(
    (await api.call("GET", "/metrics", undefined, { token: null })).status,
    401,
  );
  const nodeRes = await api.call("GET", "/metrics", undefined, {
    token: "Bearer node:n1",
  });
  assertEquals(nodeRes.status, 403);
  await nodeRes.body?.cancel();
  for (const token of ["Bearer admin-token", "Bearer mon"]) {
    const r = await api.call("GET", "/metrics", undefined, { token });
    assertEquals(r.status, 200);
    assertMatch(
      r.headers.get("content-type")!,
      /^text\/plain; version=0\.0\.4/,
    );
    const text = await r.text();
    assertMatch(text, /^# TYPE weft_apiserver_requests_total counter$/m);
    assertMatch(text, /^process_resident_memory_bytes \d+/m);
  }
  // The monitoring identity reads metrics only: no objects, no other proxy path.
  const list = await api.call("GET", "/api/v1/nodes", undefined, {
    token: "Bearer mon",
  });
  assertEquals(list.status, 403);
  await list.body?.cancel();
  const proxy = await api.call(
    "GET",
    "/api/v1/nodes/n1/proxy/status",
    undefined,
    {
      token: "Bearer mon",
    },
  );
  assertEquals(proxy.status, 403);
  await proxy.body?.cancel();
  const post = await api.call("POST", "/metrics", "x", { token: "Bearer mon" });
  assert(
    post.status === 404 || post.status === 405,
    `POST /metrics: ${post.status}`,
  );
  await post.body?.cancel();
});

Deno.test("the request middleware counts by verb, resource and code", async () => {
  await using api = await testApi();
  const labels = {
    verb: "POST",
    group: "",
    resource: "nodes",
    subresource: "",
    code: "201",
  };
  const before = apiRequests.get(labels);
  const r = await api.call("POST", "/api/v1/nodes", node("m1"));
  assertEquals(r.status, 201);
  await r.body?.cancel();
  assertEquals(apiRequests.get(labels), before + 1);
  const conflict = { ...labels, code: "409" };
  const c0 = apiRequests.get(conflict);
  const again = await api.call("POST", "/api/v1/nodes", node("m1"));
  assertEquals(again.status, 409);
  await again.body?.cancel();
  assertEquals(apiRequests.get(conflict), c0 + 1);
});

Deno.test("an open watch is counted until its client goes away", async () => {
  await using api = await testApi();
  const open = () => {
    const s = apiOpenWatches.samples().find((x) =>
      x.labels.resource === "nodes"
    );
    return s?.value ?? 0;
  };
  const before = open();
  const r = await api.call("GET", "/api/v1/nodes?watch=true");
  assertEquals(r.status, 200);
  assertEquals(open(), before + 1);
  await r.body!.cancel();
  assertEquals(open(), before);
});

Deno.test("the node proxy metrics path goes to the node's /metrics without the caller's credential", async () => {
  const seen: { node: string; path: string; auth: string | null }[] = [];
  await using api = await testApi({
    deps: {
      nodeProxy: (n, path, req) => {
        seen.push({ node: n, path, auth: req.headers.get("authorization") });
        return Promise.resolve(new Response("weft_x 1\n"));
      },
    },
  });
  const missing = await api.call("GET", "/api/v1/nodes/n9/proxy/metrics");
  assertEquals(missing.status, 404);
  await missing.body?.cancel();
  const created = await api.call("POST", "/api/v1/nodes", node("n9"));
  await created.body?.cancel();
  const r = await api.call("GET", "/api/v1/nodes/n9/proxy/metrics");
  assertEquals(await r.text(), "weft_x 1\n");
  assertEquals(seen, [{ node: "n9", path: "/metrics", auth: null }]);
});
