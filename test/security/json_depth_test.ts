// Issue 11 row 7: JSON nested 10,000 deep (20 KB) answered 500 "Maximum
// call stack size exceeded". Bodies and patch documents nested deeper than
// the API's limit are now refused with a 400 Status before anything walks
// them; ordinary depth still works.

import { assertEquals, assertMatch } from "@std/assert";
import { MAX_JSON_DEPTH } from "../../src/api/json.ts";
import { node, testApi } from "../api/_fixture.ts";

const deep = (n: number, open = "[", close = "]") =>
  open.repeat(n) + close.repeat(n);
const deepObject = (n: number) => '{"a":'.repeat(n) + "1" + "}".repeat(n);

Deno.test("security row 7: deeply nested bodies and patches get 400, never 500", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/16" });
  assertEquals(
    (await api.call("POST", "/api/v1/nodes", node("a"))).status,
    201,
  );
  const bodies = [
    `{"metadata":{"name":"b"},"spec":{"x":${deep(10_000)}}}`,
    `{"metadata":{"name":"b"},"spec":{"x":${deepObject(10_000)}}}`,
    `{"metadata":{"name":"b"},"spec":{"x":${deep(MAX_JSON_DEPTH)}}}`,
  ];
  for (const body of bodies) {
    for (
      const [method, path, contentType] of [
        ["POST", "/api/v1/nodes", undefined],
        ["PUT", "/api/v1/nodes/a", undefined],
        ["PATCH", "/api/v1/nodes/a", "application/merge-patch+json"],
        ["PATCH", "/api/v1/nodes/a", "application/strategic-merge-patch+json"],
      ] as const
    ) {
      const res = await api.call(method, path, body, { contentType });
      const st = await res.json();
      assertEquals(res.status, 400, `${method} ${contentType}: ${st.message}`);
      assertEquals(st.kind, "Status");
      assertMatch(st.message, /nest/);
    }
  }
  const jsonPatch = `[{"op":"add","path":"/spec/x","value":${deep(10_000)}}]`;
  const res = await api.call("PATCH", "/api/v1/nodes/a", jsonPatch, {
    contentType: "application/json-patch+json",
  });
  assertEquals(res.status, 400);
  const del = await api.call(
    "DELETE",
    "/api/v1/nodes/a",
    `{"preconditions":${deepObject(10_000)}}`,
  );
  assertEquals(del.status, 400);
});

Deno.test("security row 7: nesting within the limit is accepted", async () => {
  await using api = await testApi();
  const ok = `{"metadata":{"name":"b"},"spec":{"x":${
    deep(MAX_JSON_DEPTH - 3)
  },"s":"[[[[{{{{"}}`;
  const res = await api.call("POST", "/api/v1/nodes", ok);
  assertEquals(res.status, 201, await res.clone().text());
  const patched = await api.call(
    "PATCH",
    "/api/v1/nodes/b",
    `{"spec":{"y":${deepObject(MAX_JSON_DEPTH - 3)}}}`,
    { contentType: "application/merge-patch+json" },
  );
  assertEquals(patched.status, 200, await patched.clone().text());
});
