// Issue 11 row 5: the namespace in the URL was not validated: pods were
// created in `default/evil`, `../../x` and `A B` (201), and `default/evil`
// listed under `default`. Namespace and name path segments are now DNS-1123
// labels / subdomains as Kubernetes requires: 400 for a bad path segment,
// 422 for a bad name in the body. (A bare ".." segment never reaches the
// API: URL parsing resolves it first.)

import { assertEquals, assertMatch } from "@std/assert";
import { node, testApi } from "../api/_fixture.ts";

function pod(name: string, namespace?: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: namespace === undefined ? { name } : { name, namespace },
    spec: { nodeName: "n1", containers: [{ name: "c", image: "busybox" }] },
  };
}

const BAD_NAMESPACES = [
  "default/evil",
  "../../x",
  "A B",
  "Default",
  "-x",
  "a.b", // a label: no dots in a namespace
  "x".repeat(64),
  "%",
];

Deno.test("security row 5: a pod cannot be created, read, listed or deleted in a namespace that is not a DNS-1123 label (400)", async () => {
  await using api = await testApi();
  for (const ns of BAD_NAMESPACES) {
    const base = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`;
    for (
      const [method, path, body] of [
        ["POST", base, pod("p")],
        ["GET", base, undefined],
        ["GET", `${base}?watch=1`, undefined],
        ["GET", `${base}/p`, undefined],
        ["PUT", `${base}/p`, pod("p")],
        ["DELETE", `${base}/p`, undefined],
      ] as const
    ) {
      const res = await api.call(method, path, body);
      const st = await res.json();
      assertEquals(res.status, 400, `${method} ${path}: ${st.message}`);
      assertEquals(st.kind, "Status");
      assertMatch(st.message, /namespace/);
    }
  }
  const all = await (await api.call("GET", "/api/v1/pods")).json();
  assertEquals(all.items, []);
});

Deno.test("security row 5: names in the path must be DNS-1123 subdomains (400); in the body 422", async () => {
  await using api = await testApi();
  for (const name of ["evil/x", "../x", "A B", "x".repeat(254), "a_b"]) {
    const enc = encodeURIComponent(name);
    for (
      const path of [
        `/api/v1/nodes/${enc}`,
        `/api/v1/nodes/${enc}/status`,
        `/api/v1/nodes/${enc}/proxy/x`,
        `/api/v1/namespaces/default/pods/${enc}`,
      ]
    ) {
      const res = await api.call("GET", path);
      assertEquals(res.status, 400, `GET ${path}`);
      assertMatch((await res.json()).message, /name/);
    }
    const created = await api.call("POST", "/api/v1/nodes", node(name));
    assertEquals(created.status, 422, `POST node ${name}`);
    assertEquals((await created.json()).reason, "Invalid");
  }
});

Deno.test("security row 5: nothing created through default%2Fevil lists under default; valid names still work", async () => {
  await using api = await testApi();
  const evil = await api.call(
    "POST",
    "/api/v1/namespaces/default%2Fevil/pods",
    pod("p"),
  );
  assertEquals(evil.status, 400);
  const ok = await api.call(
    "POST",
    "/api/v1/namespaces/default/pods",
    pod("a.b-c"),
  );
  assertEquals(ok.status, 201);
  const wrong = await api.call(
    "POST",
    "/api/v1/namespaces/default/pods",
    pod("x", "default/evil"),
  );
  assertEquals(wrong.status, 400);
  const def = await (await api.call("GET", "/api/v1/namespaces/default/pods"))
    .json();
  assertEquals(
    def.items.map((p: { metadata: { name: string } }) => p.metadata.name),
    ["a.b-c"],
  );
});
