import { assert, assertEquals, assertRejects } from "@std/assert";
import { KubeClient, KubeError, type Node } from "../../src/kube/mod.ts";
import { ensureServerPKI } from "../../src/tls/mod.ts";
import { type FakeApiTest, withFakeApiServer } from "./_fake_apiserver.ts";

function withFake(fn: FakeApiTest): Promise<void> {
  return withFakeApiServer("weft-kube-", fn);
}

const node = (name: string, labels?: Record<string, string>): Node => ({
  metadata: { name, labels },
});

Deno.test("KubeClient create/get/list round-trip with the bearer token", () =>
  withFake(async (fake, c) => {
    const created = await c.create(
      "/api/v1/nodes",
      node("a", { role: "edge" }),
    );
    assertEquals(created.metadata.name, "a");
    await c.create("/api/v1/nodes", node("b"));
    const got = await c.get<Node>("/api/v1/nodes/a");
    assertEquals(got.metadata.labels, { role: "edge" });
    const all = await c.list<Node>("/api/v1/nodes");
    assertEquals(all.items.map((n) => n.metadata.name).sort(), ["a", "b"]);
    assertEquals(
      all.resourceVersion,
      fake.objects.get("b")!.metadata.resourceVersion,
    );
    const edge = await c.list<Node>("/api/v1/nodes", {
      labelSelector: "role=edge",
    });
    assertEquals(edge.items.map((n) => n.metadata.name), ["a"]);
    const last = fake.requests.at(-1)!;
    assertEquals(last.query.get("labelSelector"), "role=edge");
    assertEquals(last.headers.get("authorization"), `Bearer ${fake.token}`);
  }));

Deno.test("KubeClient.patch() sends the content type of each patch kind", () =>
  withFake(async (fake, c) => {
    await c.create("/api/v1/nodes", node("a"));
    await c.patch("/api/v1/nodes/a", { metadata: { labels: { x: "1" } } });
    assertEquals(
      fake.requests.at(-1)!.headers.get("content-type"),
      "application/merge-patch+json",
    );
    await c.patch(
      "/api/v1/nodes/a",
      { metadata: { labels: { y: "2" } } },
      "strategic",
    );
    assertEquals(
      fake.requests.at(-1)!.headers.get("content-type"),
      "application/strategic-merge-patch+json",
    );
    const after = await c.patch<Node>("/api/v1/nodes/a", [{
      op: "add",
      path: "/metadata/labels/z",
      value: "3",
    }], "json");
    assertEquals(
      fake.requests.at(-1)!.headers.get("content-type"),
      "application/json-patch+json",
    );
    assertEquals(after.metadata.labels, { x: "1", y: "2", z: "3" });
  }));

Deno.test("KubeClient.update() with a stale resourceVersion throws a Conflict KubeError", () =>
  withFake(async (_fake, c) => {
    const a = await c.create("/api/v1/nodes", node("a"));
    await c.update("/api/v1/nodes/a", {
      ...a,
      metadata: { ...a.metadata, labels: { v: "1" } },
    });
    const e = await assertRejects(
      () => c.update("/api/v1/nodes/a", a),
      KubeError,
    );
    assertEquals(e.status, 409);
    assert(e.isConflict);
  }));

Deno.test("KubeClient maps 404 and AlreadyExists Status bodies to KubeError", () =>
  withFake(async (_fake, c) => {
    const e = await assertRejects(
      () => c.get("/api/v1/nodes/missing"),
      KubeError,
      `nodes "missing" not found`,
    );
    assert(e.isNotFound);
    assertEquals(e.reason, "NotFound");
    await c.create("/api/v1/nodes", node("a"));
    const dup = await assertRejects(
      () => c.create("/api/v1/nodes", node("a")),
      KubeError,
    );
    assert(dup.isAlreadyExists);
  }));

Deno.test("KubeClient.delete() removes the object", () =>
  withFake(async (fake, c) => {
    await c.create("/api/v1/nodes", node("a"));
    await c.delete("/api/v1/nodes/a");
    assertEquals(fake.objects.has("a"), false);
  }));

Deno.test("KubeClient without the token gets a 401 KubeError", () =>
  withFake(async (fake, _c, pki) => {
    using anon = new KubeClient({ server: fake.url, caPem: pki.caPem });
    const e = await assertRejects(() => anon.list("/api/v1/nodes"), KubeError);
    assertEquals(e.status, 401);
  }));

Deno.test("KubeClient refuses a server whose certificate is not from the pinned CA", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-kube-" });
  try {
    const other = await ensureServerPKI({
      dataDir: `${dir}/other`,
      hostname: "s",
      addresses: [],
    });
    await withFake(async (fake) => {
      using c = new KubeClient({
        server: fake.url,
        caPem: other.caPem,
        token: fake.token,
      });
      const e = await assertRejects(() => c.list("/api/v1/nodes"), KubeError);
      assertEquals(e.status, 0);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KubeClient with insecureSkipTlsVerify talks to any certificate", () =>
  withFake(async (fake) => {
    fake.put(node("a"));
    using c = new KubeClient({
      server: fake.url,
      token: fake.token,
      insecureSkipTlsVerify: true,
    });
    assertEquals((await c.get<Node>("/api/v1/nodes/a")).metadata.name, "a");
  }));

Deno.test("KubeClient.watch() streams events after a resourceVersion", () =>
  withFake(async (fake, c) => {
    const first = fake.put(node("a"));
    fake.put(node("b"));
    fake.remove("a");
    const ac = new AbortController();
    const seen: string[] = [];
    for await (
      const ev of c.watch<Node>("/api/v1/nodes", {
        resourceVersion: first.metadata.resourceVersion,
        signal: ac.signal,
      })
    ) {
      seen.push(`${ev.type} ${ev.object.metadata?.name}`);
      if (seen.length === 2) fake.put(node("c"));
      if (seen.length === 3) ac.abort();
    }
    assertEquals(seen, ["ADDED b", "DELETED a", "ADDED c"]);
  }));

Deno.test("KubeClient.watch() throws 410 Gone for a compacted resourceVersion", () =>
  withFake(async (fake, c) => {
    const a = fake.put(node("a"));
    fake.put(node("b"));
    fake.compact();
    const e = await assertRejects(async () => {
      for await (
        const _ of c.watch("/api/v1/nodes", {
          resourceVersion: a.metadata.resourceVersion,
        })
      ) {
        // drained until the error
      }
    }, KubeError);
    assert(e.isGone);
  }));

Deno.test("KubeClient rejects a server URL that is not http(s)", () => {
  let err: unknown;
  try {
    new KubeClient({ server: "ftp://x" });
  } catch (e) {
    err = e;
  }
  assert(err instanceof TypeError);
});
