// Paged lists (limit/continue) read at one revision, 410 Expired for a
// compacted continue token, and resourceVersionMatch.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { node, type TestApi, testApi } from "./_fixture.ts";

interface List {
  kind: string;
  metadata: { resourceVersion: string; continue?: string };
  items: { metadata: { name: string; labels?: Record<string, string> } }[];
  code?: number;
  reason?: string;
}

async function list(api: TestApi, query: string): Promise<[number, List]> {
  const res = await api.call("GET", `/api/v1/nodes?${query}`);
  return [res.status, await res.json()];
}

const names = (l: List) => l.items.map((i) => i.metadata.name);

Deno.test("limit/continue pages a list at the revision of its first page", async () => {
  await using api = await testApi();
  for (const n of ["a", "b", "c", "d", "e"]) {
    await api.call("POST", "/api/v1/nodes", node(n));
  }
  const [, p1] = await list(api, "limit=2");
  assertEquals(names(p1), ["a", "b"]);
  assert(p1.metadata.continue);
  // Changes after the first page: none of them shows in later pages.
  await api.call("DELETE", "/api/v1/nodes/c");
  await api.call("POST", "/api/v1/nodes", node("bb"));
  await api.call("PATCH", "/api/v1/nodes/d", {
    metadata: { labels: { x: "1" } },
  }, {
    contentType: "application/merge-patch+json",
  });
  const [, p2] = await list(
    api,
    `limit=2&continue=${encodeURIComponent(p1.metadata.continue!)}`,
  );
  assertEquals(names(p2), ["c", "d"]);
  assertEquals(p2.items[1].metadata.labels, undefined);
  assertEquals(p2.metadata.resourceVersion, p1.metadata.resourceVersion);
  const [, p3] = await list(
    api,
    `limit=2&continue=${encodeURIComponent(p2.metadata.continue!)}`,
  );
  assertEquals(names(p3), ["e"]);
  assertEquals(p3.metadata.continue, undefined);
  // Without a token: the current state.
  const [, now] = await list(api, "");
  assertEquals(names(now), ["a", "b", "bb", "d", "e"]);
});

Deno.test("limit with a selector fills the page with matching objects", async () => {
  await using api = await testApi();
  for (
    const [n, zone] of [["a", "x"], ["b", "y"], ["c", "x"], ["d", "y"], [
      "e",
      "x",
    ]]
  ) {
    await api.call(
      "POST",
      "/api/v1/nodes",
      node(n, { metadata: { name: n, labels: { zone } } }),
    );
  }
  const [, p1] = await list(api, "limit=2&labelSelector=zone%3Dx");
  assertEquals(names(p1), ["a", "c"]);
  const [, p2] = await list(
    api,
    `limit=2&labelSelector=zone%3Dx&continue=${
      encodeURIComponent(p1.metadata.continue!)
    }`,
  );
  assertEquals(names(p2), ["e"]);
  assertEquals(p2.metadata.continue, undefined);
});

Deno.test("a continue token whose revision was compacted is 410 Expired", async () => {
  await using api = await testApi({ historyLimit: 5 });
  for (const n of ["a", "b", "c"]) {
    await api.call("POST", "/api/v1/nodes", node(n));
  }
  const [, p1] = await list(api, "limit=1");
  for (let i = 0; i < 20; i++) {
    await api.call("PATCH", "/api/v1/nodes/a", {
      metadata: { labels: { i: String(i) } },
    }, {
      contentType: "application/merge-patch+json",
    });
  }
  const [code, s] = await list(
    api,
    `limit=1&continue=${encodeURIComponent(p1.metadata.continue!)}`,
  );
  assertEquals([code, s.kind, s.reason], [410, "Status", "Expired"]);
});

Deno.test("forged or malformed continue tokens are 400, never outside the list", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/nodes", node("a"));
  const forge = (o: unknown) => encodeURIComponent(btoa(JSON.stringify(o)));
  for (
    const token of [
      "%%%",
      encodeURIComponent(btoa("not json")),
      forge({ v: "other", rv: 1, start: "a" }),
      forge({ v: "meta.k8s.io/v1", rv: -1, start: "a" }),
      forge({ v: "meta.k8s.io/v1", rv: 1e20, start: "a" }),
      forge({ v: "meta.k8s.io/v1", rv: 999999, start: "a" }),
      forge({ v: "meta.k8s.io/v1", rv: 1, start: 7 }),
      "A".repeat(5000),
    ]
  ) {
    const [code, s] = await list(api, `limit=1&continue=${token}`);
    assertEquals([code, s.reason], [400, "BadRequest"], token);
  }
  // A start key that sorts before the prefix still reads only nodes.
  const [code, l] = await list(
    api,
    `continue=${forge({ v: "meta.k8s.io/v1", rv: 1, start: "../../pods" })}`,
  );
  assertEquals(code, 200);
  assert(l.items.every((i) => i.metadata.name === "a"));
  const [c2, s2] = await list(
    api,
    `continue=${
      forge({ v: "meta.k8s.io/v1", rv: 1, start: "a" })
    }&resourceVersion=5`,
  );
  assertEquals([c2, s2.reason], [400, "BadRequest"]);
});

Deno.test("resourceVersionMatch=Exact lists a past revision; NotOlderThan the current", async () => {
  await using api = await testApi();
  const a = await (await api.call("POST", "/api/v1/nodes", node("a"))).json();
  const rv = a.metadata.resourceVersion;
  await api.call("POST", "/api/v1/nodes", node("b"));
  const [, exact] = await list(
    api,
    `resourceVersion=${rv}&resourceVersionMatch=Exact`,
  );
  assertEquals(names(exact), ["a"]);
  assertEquals(exact.metadata.resourceVersion, rv);
  const [, newer] = await list(
    api,
    `resourceVersion=${rv}&resourceVersionMatch=NotOlderThan`,
  );
  assertEquals(names(newer), ["a", "b"]);
  const [c1, s1] = await list(api, "resourceVersionMatch=Exact");
  assertEquals([c1, s1.reason], [400, "BadRequest"]);
  const [c2] = await list(api, "resourceVersion=0&resourceVersionMatch=Exact");
  assertEquals(c2, 400);
  const [c3] = await list(
    api,
    "resourceVersion=1&resourceVersionMatch=Sometime",
  );
  assertEquals(c3, 400);
  const [c4, s4] = await list(api, "resourceVersion=999999");
  assertEquals([c4, s4.reason], [504, "Timeout"]);
  assertMatch(JSON.stringify(s4), /Too large resource version/);
});
