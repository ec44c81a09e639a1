import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  ADMIN,
  moreEvents,
  node,
  readEvents,
  type TestApi,
  testApi,
} from "./_fixture.ts";

const MERGE = "application/merge-patch+json";

function watch(api: TestApi, query: string, accept?: string) {
  const headers: Record<string, string> = { authorization: ADMIN };
  if (accept) headers.accept = accept;
  return Promise.resolve(
    api.app.request(`/api/v1/nodes?watch=1&${query}`, { headers }),
  );
}

const label = (
  api: TestApi,
  name: string,
  labels: Record<string, string | null>,
) =>
  api.call("PATCH", `/api/v1/nodes/${name}`, { metadata: { labels } }, {
    contentType: MERGE,
  });

Deno.test("watch without resourceVersion sends the current nodes as ADDED, then changes", async () => {
  await using api = await testApi();
  const rv = async (r: Promise<Response>) =>
    (await (await r).json()).metadata.resourceVersion;
  const a = await rv(api.call("POST", "/api/v1/nodes", node("a")));
  const res = await watch(api, "");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "application/json");
  const a2 = await rv(label(api, "a", { x: "1" }));
  const b = await rv(api.call("POST", "/api/v1/nodes", node("b")));
  await api.call("DELETE", "/api/v1/nodes/a");
  const { reader, events } = await readEvents(res, 4);
  assertEquals(
    events.slice(0, 3).map((
      e,
    ) => [e.type, e.object.metadata.name, e.object.metadata.resourceVersion]),
    [
      ["ADDED", "a", a],
      ["MODIFIED", "a", a2],
      ["ADDED", "b", b],
    ],
  );
  assertEquals([events[3].type, events[3].object.metadata.name], [
    "DELETED",
    "a",
  ]);
  assert(
    Number(events[3].object.metadata.resourceVersion) > Number(b),
  );
  assertEquals(events[1].object.kind, "Node");
  await reader.cancel();
});

Deno.test("watch from a resourceVersion replays exactly the later events", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/nodes", node("a"));
  const rv1 = (await (await label(api, "a", { x: "1" })).json()).metadata
    .resourceVersion;
  const rv2 = (await (await label(api, "a", { x: "2" })).json()).metadata
    .resourceVersion;
  const res = await watch(api, `resourceVersion=${rv1}`);
  const { reader, events } = await readEvents(res, 1);
  assertEquals(
    events.map((
      e,
    ) => [e.type, e.object.metadata.resourceVersion, e.object.metadata.labels]),
    [
      ["MODIFIED", rv2, { x: "2" }],
    ],
  );
  await reader.cancel();
});

Deno.test("a label selector watch turns selector transitions into ADDED/DELETED", async () => {
  await using api = await testApi();
  const created = await api.call("POST", "/api/v1/nodes", node("a"));
  const rv = (await created.json()).metadata.resourceVersion;
  const res = await watch(api, `resourceVersion=${rv}&labelSelector=zone%3Dx`);
  await label(api, "a", { zone: "x" });
  await label(api, "a", { zone: "x", other: "1" });
  await label(api, "a", { zone: "y" });
  await api.call("POST", "/api/v1/nodes", node("b"));
  await api.call(
    "POST",
    "/api/v1/nodes",
    node("c", { metadata: { name: "c", labels: { zone: "x" } } }),
  );
  const { reader, events } = await readEvents(res, 4);
  assertEquals(events.map((e) => [e.type, e.object.metadata.name]), [
    ["ADDED", "a"],
    ["MODIFIED", "a"],
    ["DELETED", "a"],
    ["ADDED", "c"],
  ]);
  await reader.cancel();
});

Deno.test("watch from a compacted resourceVersion is 410 Gone; a relist works", async () => {
  await using api = await testApi({ historyLimit: 5 });
  await api.call("POST", "/api/v1/nodes", node("a"));
  for (let i = 0; i < 20; i++) await label(api, "a", { i: String(i) });
  const res = await watch(api, "resourceVersion=2");
  assertEquals(res.status, 410);
  const s = await res.json();
  assertEquals([s.kind, s.code, s.reason], ["Status", 410, "Gone"]);
  const list = await (await api.call("GET", "/api/v1/nodes")).json();
  const again = await watch(
    api,
    `resourceVersion=${list.metadata.resourceVersion}`,
  );
  assertEquals(again.status, 200);
  await label(api, "a", { i: "last" });
  const { reader, events } = await readEvents(again, 1);
  assertEquals(events[0].object.metadata.labels, { i: "last" });
  await reader.cancel();
});

Deno.test("watch resumes after a server restart without missing or repeating an event", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-api-restart-" });
  try {
    const seen: string[] = [];
    let lastRv = "";
    {
      await using api = await testApi({ dir, keepDir: true });
      const res = await watch(api, "resourceVersion=0");
      await api.call("POST", "/api/v1/nodes", node("a"));
      await api.call("POST", "/api/v1/nodes", node("b"));
      const { reader, events } = await readEvents(res, 2);
      for (const e of events) {
        seen.push(
          `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`,
        );
      }
      lastRv = events.at(-1)!.object.metadata.resourceVersion!;
      // Changes the client has not seen when the server goes away.
      await label(api, "a", { x: "1" });
      await api.call("DELETE", "/api/v1/nodes/b");
      await reader.cancel();
    }
    await using api = await testApi({ dir, keepDir: true });
    await api.call("POST", "/api/v1/nodes", node("c"));
    const res = await watch(api, `resourceVersion=${lastRv}`);
    await label(api, "c", { y: "1" });
    const { reader, events } = await readEvents(res, 4);
    for (const e of events) {
      seen.push(
        `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`,
      );
    }
    assertEquals(seen.map((l) => l.split(" ").slice(0, 2).join(" ")), [
      "ADDED a",
      "ADDED b",
      "MODIFIED a",
      "DELETED b",
      "ADDED c",
      "MODIFIED c",
    ]);
    const rvs = seen.map((l) => Number(l.split(" ")[2]));
    assert(rvs.every((r, i) => i === 0 || r > rvs[i - 1]), seen.join("; "));
    await reader.cancel();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watch with allowWatchBookmarks sends BOOKMARK events with the resourceVersion", async () => {
  await using api = await testApi({ deps: { bookmarkIntervalMs: 1 } });
  const created = await api.call("POST", "/api/v1/nodes", node("a"));
  const rv = (await created.json()).metadata.resourceVersion;
  const res = await watch(
    api,
    `resourceVersion=${rv}&allowWatchBookmarks=true`,
  );
  const { reader, events } = await readEvents(res, 1);
  assertEquals(events[0].type, "BOOKMARK");
  assertEquals(events[0].object.kind, "Node");
  assertEquals(events[0].object.metadata.resourceVersion, rv);
  await label(api, "a", { x: "1" });
  let next = await moreEvents(reader, 1);
  while (next[0].type === "BOOKMARK") next = await moreEvents(reader, 1);
  assertEquals(next[0].type, "MODIFIED");
  await reader.cancel();
});

Deno.test("sendInitialEvents ends the initial ADDED events with a marked bookmark", async () => {
  await using api = await testApi();
  await api.call("POST", "/api/v1/nodes", node("a"));
  const res = await watch(
    api,
    "sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
  );
  const { reader, events } = await readEvents(res, 2);
  assertEquals(events.map((e) => e.type), ["ADDED", "BOOKMARK"]);
  assertEquals(events[1].object.metadata.annotations, {
    "k8s.io/initial-events-end": "true",
  });
  await reader.cancel();
});

Deno.test("watch with timeoutSeconds ends the stream", async () => {
  await using api = await testApi();
  // As kube-apiserver, timeoutSeconds=0 means "not given" (the server's
  // jittered maximum applies): the shortest explicit timeout is 1 s.
  const res = await watch(api, "resourceVersion=0&timeoutSeconds=1");
  assertEquals(await res.text(), "");
  const bad = await watch(api, "timeoutSeconds=abc");
  assertEquals(bad.status, 400);
});

Deno.test("a watch asked for a Table streams one-row Tables", async () => {
  await using api = await testApi();
  const res = await watch(
    api,
    "resourceVersion=0",
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
  );
  await api.call("POST", "/api/v1/nodes", node("a"));
  const { reader, events } = await readEvents(res, 1);
  assertEquals(events[0].type, "ADDED");
  assertEquals(events[0].object.kind, "Table");
  assertEquals(events[0].object.rows![0].cells[0], "a");
  await reader.cancel();
});

Deno.test("a watch that falls too far behind ends with an ERROR 410 event", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-api-slow-" });
  try {
    const { openSqliteStore } = await import("../../src/store/mod.ts");
    const { createApp } = await import("../../src/api/mod.ts");
    const { testAuthenticate } = await import("./_fixture.ts");
    using store = openSqliteStore(`${dir}/s.db`, { watchQueueLimit: 2 });
    const app = createApp({ store, authenticate: testAuthenticate });
    const res = await app.request("/api/v1/nodes?watch=1&resourceVersion=0", {
      headers: { authorization: ADMIN },
    });
    for (const n of ["a", "b", "c", "d", "e"]) {
      await app.request("/api/v1/nodes", {
        method: "POST",
        headers: { authorization: ADMIN },
        body: JSON.stringify(node(n)),
      });
    }
    const text = await res.text();
    const last = JSON.parse(text.trim().split("\n").at(-1)!);
    assertEquals(last.type, "ERROR");
    assertEquals(last.object.code, 410);
    assertMatch(last.object.message, /relist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
