import { assertEquals } from "@std/assert";
import { readEvents, testApi } from "./_fixture.ts";

function pod(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name },
    spec: { nodeName: "n1", containers: [{ name: "c", image: "busybox" }] },
    ...extra,
  };
}

Deno.test("pods are namespaced: create, get, list per namespace and across", async () => {
  await using api = await testApi();
  const a = await api.call(
    "POST",
    "/api/v1/namespaces/default/pods",
    pod("web"),
  );
  assertEquals(a.status, 201);
  const created = await a.json();
  assertEquals(created.metadata.namespace, "default");
  assertEquals(created.status.phase, "Pending");
  await api.call("POST", "/api/v1/namespaces/kube-system/pods", pod("web"));
  await api.call("POST", "/api/v1/namespaces/kube-system/pods", pod("dns"));
  const ns =
    await (await api.call("GET", "/api/v1/namespaces/kube-system/pods")).json();
  assertEquals(ns.kind, "PodList");
  assertEquals(
    ns.items.map((p: { metadata: { name: string } }) => p.metadata.name),
    ["dns", "web"],
  );
  const all = await (await api.call("GET", "/api/v1/pods")).json();
  assertEquals(all.items.length, 3);
  const got =
    await (await api.call("GET", "/api/v1/namespaces/default/pods/web")).json();
  assertEquals(got.metadata.uid, created.metadata.uid);
  assertEquals(
    (await api.call("GET", "/api/v1/namespaces/other/pods/web")).status,
    404,
  );
});

Deno.test("a pod whose namespace differs from the URL's is 400", async () => {
  await using api = await testApi();
  const res = await api.call("POST", "/api/v1/namespaces/default/pods", {
    metadata: { name: "x", namespace: "other" },
  });
  assertEquals(res.status, 400);
});

Deno.test("pod field selectors: spec.nodeName and status.phase", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/namespaces/default/pods", pod("a"));
  await api.call(
    "POST",
    "/api/v1/namespaces/default/pods",
    pod("b", { spec: { nodeName: "n2", containers: [] } }),
  );
  const r = await (await api.call(
    "GET",
    "/api/v1/pods?fieldSelector=spec.nodeName%3Dn2",
  )).json();
  assertEquals(
    r.items.map((p: { metadata: { name: string } }) => p.metadata.name),
    ["b"],
  );
  const p = await (await api.call(
    "GET",
    "/api/v1/pods?fieldSelector=status.phase%3DPending",
  )).json();
  assertEquals(p.items.length, 2);
});

Deno.test("pod update, status, strategic merge of containers by name, delete", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/namespaces/default/pods", pod("web"));
  const smp = await api.call("PATCH", "/api/v1/namespaces/default/pods/web", {
    spec: {
      containers: [{ name: "c", image: "busybox:2" }, {
        name: "side",
        image: "x",
      }],
    },
  }, { contentType: "application/strategic-merge-patch+json" });
  const s = await smp.json();
  assertEquals(s.spec.containers, [{ name: "c", image: "busybox:2" }, {
    name: "side",
    image: "x",
  }]);
  assertEquals(s.metadata.generation, 2);
  const st = await api.call(
    "PUT",
    "/api/v1/namespaces/default/pods/web/status",
    {
      metadata: { name: "web" },
      status: { phase: "Running", podIP: "10.42.0.5" },
    },
  );
  assertEquals((await st.json()).status.podIP, "10.42.0.5");
  const del = await api.call("DELETE", "/api/v1/namespaces/default/pods/web");
  assertEquals(del.status, 200);
  assertEquals(
    (await api.call("GET", "/api/v1/namespaces/default/pods/web")).status,
    404,
  );
});

Deno.test("pods watch per namespace sees only that namespace", async () => {
  await using api = await testApi();
  for (const name of ["a", "b"]) {
    await api.call("POST", "/api/v1/namespaces", { metadata: { name } });
  }
  const ac = new AbortController();
  const res = await api.app.request(
    "/api/v1/namespaces/a/pods?watch=1&resourceVersion=0",
    {
      headers: { authorization: "Bearer admin-token" },
      signal: ac.signal,
    },
  );
  await api.call("POST", "/api/v1/namespaces/b/pods", pod("x"));
  await api.call("POST", "/api/v1/namespaces/a/pods", pod("y"));
  const { reader, events } = await readEvents(res, 1);
  assertEquals(events.map((e) => [e.type, e.object.metadata.name]), [[
    "ADDED",
    "y",
  ]]);
  await reader.cancel();
});

Deno.test("pod Table has NAME READY STATUS RESTARTS AGE", async () => {
  await using api = await testApi();
  await api.call(
    "POST",
    "/api/v1/namespaces/default/pods",
    pod("web", {
      status: {
        phase: "Running",
        containerStatuses: [{ name: "c", ready: true, restartCount: 2 }],
      },
    }),
  );
  const t =
    await (await api.call("GET", "/api/v1/namespaces/default/pods", undefined, {
      accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
    })).json();
  assertEquals(t.rows[0].cells.slice(0, 4), ["web", "1/1", "Running", 2]);
});
