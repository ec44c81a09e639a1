import { assertEquals } from "@std/assert";
import { KubeClient, type Node } from "../../src/kube/mod.ts";
import {
  type FakeApiServer,
  until,
  withFakeApiServer,
} from "./_fake_apiserver.ts";

interface Env {
  fake: FakeApiServer;
  client: KubeClient;
  log: string[];
  ac: AbortController;
}

function withInformerEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  return withFakeApiServer("weft-informer-", async (fake, client) => {
    const ac = new AbortController();
    try {
      await fn({ fake, client, log: [], ac });
    } finally {
      ac.abort();
    }
  });
}

const node = (name: string, labels?: Record<string, string>): Node => ({
  metadata: { name, labels },
});

function start(env: Env) {
  return env.client.informer<Node>("/api/v1/nodes", {
    added: (o) => void env.log.push(`added ${o.metadata.name}`),
    updated: (o, old) =>
      void env.log.push(
        `updated ${o.metadata.name} ${old.metadata.labels?.v ?? "-"}->${
          o.metadata.labels?.v ?? "-"
        }`,
      ),
    deleted: (o) => void env.log.push(`deleted ${o.metadata.name}`),
    synced: () => void env.log.push("synced"),
  }, { signal: env.ac.signal, initialBackoffMs: 1, maxBackoffMs: 20 });
}

Deno.test("informer lists, then follows the watch", () =>
  withInformerEnv(async (env) => {
    env.fake.put(node("a"));
    env.fake.put(node("b"));
    const inf = start(env);
    await inf.synced;
    assertEquals(env.log, ["added a", "added b", "synced"]);
    await until(() => env.fake.watchCount === 1, "the watch");
    env.fake.put(node("a", { v: "1" }));
    env.fake.remove("b");
    await until(() => env.log.length === 5, "two events");
    assertEquals(env.log.slice(3), ["updated a -->1", "deleted b"]);
    assertEquals([...inf.cache.keys()], ["a"]);
    env.ac.abort();
    await inf.done;
  }));

Deno.test("informer resumes a dropped watch from the last resourceVersion without relisting", () =>
  withInformerEnv(async (env) => {
    env.fake.put(node("a"));
    const inf = start(env);
    await inf.synced;
    await until(() => env.fake.watchCount === 1, "the watch");
    const b = env.fake.put(node("b"));
    await until(() => inf.cache.has("b"), "b");
    env.fake.dropWatches();
    env.fake.put(node("c"));
    await until(() => inf.cache.has("c"), "c after the reconnect");
    const watches = env.fake.requests.filter((r) => r.query.get("watch"));
    assertEquals(watches.length, 2);
    assertEquals(
      watches[1].query.get("resourceVersion"),
      b.metadata.resourceVersion,
    );
    const lists = env.fake.requests.filter((r) =>
      r.method === "GET" && !r.query.get("watch")
    );
    assertEquals(lists.length, 1);
    assertEquals(env.log, ["added a", "synced", "added b", "added c"]);
  }));

Deno.test("informer relists on 410 Gone and emits the differences", () =>
  withInformerEnv(async (env) => {
    env.fake.put(node("keep"));
    env.fake.put(node("change", { v: "1" }));
    env.fake.put(node("gone"));
    const inf = start(env);
    await inf.synced;
    await until(() => env.fake.watchCount === 1, "the watch");
    env.fake.dropWatches();
    env.fake.put(node("change", { v: "2" }));
    env.fake.remove("gone");
    env.fake.put(node("new"));
    env.fake.compact();
    await until(
      () => env.log.filter((l) => l === "synced").length === 2,
      "the relist",
    );
    assertEquals(env.log.slice(4).sort(), [
      "added new",
      "deleted gone",
      "synced",
      "updated change 1->2",
    ]);
    assertEquals([...inf.cache.keys()].sort(), ["change", "keep", "new"]);
    assertEquals(
      inf.resourceVersion,
      env.fake.objects.get("new")!.metadata.resourceVersion,
    );
  }));

Deno.test("informer keeps retrying with backoff while the server refuses", () =>
  withInformerEnv(async (env) => {
    const errors: unknown[] = [];
    using bad = new KubeClient({
      server: env.fake.url,
      token: "wrong",
      insecureSkipTlsVerify: true,
    });
    const inf = bad.informer<Node>("/api/v1/nodes", {
      error: (e) => errors.push(e),
    }, {
      signal: env.ac.signal,
      initialBackoffMs: 1,
      maxBackoffMs: 5,
    });
    await until(() => errors.length >= 3, "three failures");
    env.ac.abort();
    await inf.done;
    assertEquals(inf.cache.size, 0);
  }));

Deno.test("informer stops when the signal aborts", () =>
  withInformerEnv(async (env) => {
    const inf = start(env);
    await inf.synced;
    await until(() => env.fake.watchCount === 1, "the watch");
    env.ac.abort();
    await inf.done;
    await until(() => env.fake.watchCount === 0, "the watch to close");
  }));

Deno.test("informer.synced resolves when it stops before the first list", async () => {
  using c = new KubeClient({ server: "https://127.0.0.1:1", token: "t" });
  const ac = new AbortController();
  const errors: unknown[] = [];
  const inf = c.informer("/api/v1/nodes", { error: (e) => errors.push(e) }, {
    signal: ac.signal,
    initialBackoffMs: 1,
  });
  await until(() => errors.length >= 1, "a connection failure");
  ac.abort();
  await inf.synced;
  await inf.done;
  assertEquals(inf.cache.size, 0);
});

Deno.test("informer with slim: the cache and the handlers hold only what slim keeps, listed and watched", () =>
  withInformerEnv(async (env) => {
    const slim = (n: Node): Node => ({
      metadata: {
        name: n.metadata.name,
        resourceVersion: n.metadata.resourceVersion,
      },
    });
    env.fake.put({
      metadata: { name: "a", labels: { big: "x".repeat(1000) } },
    });
    const seen: Node[] = [];
    const inf = env.client.informer<Node>("/api/v1/nodes", {
      added: (o) => void seen.push(o),
      updated: (o) => void seen.push(o),
    }, { signal: env.ac.signal, slim });
    await inf.synced;
    await until(() => env.fake.watchCount === 1, "the watch");
    env.fake.put({ metadata: { name: "a", labels: { v: "2" } } });
    env.fake.put({ metadata: { name: "b", labels: { v: "1" } } });
    await until(() => seen.length === 3, "an update and an add");
    for (const o of [...seen, ...inf.cache.values()]) {
      assertEquals(Object.keys(o.metadata).sort(), ["name", "resourceVersion"]);
    }
    // Changes are still told apart by resourceVersion.
    assertEquals(seen.map((o) => o.metadata.name), ["a", "a", "b"]);
    assertEquals([...inf.cache.keys()].sort(), ["a", "b"]);
    env.ac.abort();
    await inf.done;
  }));
