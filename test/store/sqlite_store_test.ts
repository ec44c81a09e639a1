import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  AlreadyExists,
  Conflict,
  Gone,
  NotFound,
  openSqliteStore,
  StoreError,
  type StoreEvent,
} from "../../src/store/mod.ts";

async function tempDb(): Promise<{ path: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "weft-store-" });
  return { dir, path: `${dir}/state.db` };
}

async function take(
  it: AsyncIterableIterator<StoreEvent>,
  n: number,
): Promise<StoreEvent[]> {
  const out: StoreEvent[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

Deno.test("store create/get/update/delete keep revisions monotonic", async () => {
  const { dir, path } = await tempDb();
  try {
    using s = openSqliteStore(path);
    const a = await s.create("/registry/nodes/a", "1");
    assertEquals(a.createRevision, 1);
    assertEquals(a.modRevision, 1);
    await assertRejects(
      () => s.create("/registry/nodes/a", "x"),
      AlreadyExists,
    );
    const a2 = await s.update("/registry/nodes/a", "2", a.modRevision);
    assertEquals(a2.modRevision, 2);
    assertEquals(a2.createRevision, 1);
    assertEquals((await s.get("/registry/nodes/a"))?.value, "2");
    const d = await s.delete("/registry/nodes/a");
    assertEquals(d.modRevision, 3);
    assertEquals(d.value, "2");
    assertEquals(await s.get("/registry/nodes/a"), null);
    await assertRejects(() => s.delete("/registry/nodes/a"), NotFound);
    await assertRejects(() => s.update("/registry/nodes/a", "3"), NotFound);
    assertEquals(await s.revision(), 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store update with a stale revision is a Conflict", async () => {
  const { dir, path } = await tempDb();
  try {
    using s = openSqliteStore(path);
    const a = await s.create("/k", "1");
    await s.update("/k", "2", a.modRevision);
    const err = await assertRejects(
      () => s.update("/k", "3", a.modRevision),
      Conflict,
    );
    assertEquals(err.actual, 2);
    await assertRejects(() => s.delete("/k", a.modRevision), Conflict);
    assertEquals((await s.get("/k"))?.value, "2");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store list returns a prefix range in key order with the revision", async () => {
  const { dir, path } = await tempDb();
  try {
    using s = openSqliteStore(path);
    await s.create("/registry/pods/b/x", "1");
    await s.create("/registry/pods/a/y", "2");
    await s.create("/registry/podsx", "3");
    await s.create("/registry/nodes/n", "4");
    const l = await s.list("/registry/pods/");
    assertEquals(l.entries.map((e) => e.key), [
      "/registry/pods/a/y",
      "/registry/pods/b/x",
    ]);
    assertEquals(l.revision, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store txn applies all ops or none", async () => {
  const { dir, path } = await tempDb();
  try {
    using s = openSqliteStore(path);
    await s.create("/b", "taken");
    const r = await s.txn(
      [{ key: "/a", modRevision: 0 }, { key: "/b", modRevision: 0 }],
      [{ type: "put", key: "/a", value: "1" }, {
        type: "put",
        key: "/b",
        value: "1",
      }],
    );
    assertEquals(r.succeeded, false);
    assertEquals(r.failed?.key, "/b");
    assertEquals(await s.get("/a"), null);
    assertEquals(await s.revision(), 1);
    const ok = await s.txn([{ key: "/a", modRevision: 0 }], [
      { type: "put", key: "/a", value: "1" },
      { type: "delete", key: "/b" },
    ]);
    assert(ok.succeeded);
    assertEquals(ok.results.map((e) => e?.modRevision), [2, 3]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store watch replays history after a revision, then follows live writes", async () => {
  const { dir, path } = await tempDb();
  try {
    using s = openSqliteStore(path);
    await s.create("/n/a", "1");
    await s.create("/other", "x");
    await s.update("/n/a", "2");
    const ac = new AbortController();
    const w = s.watch("/n/", { fromRevision: 1, signal: ac.signal });
    await s.delete("/n/a");
    await s.create("/n/b", "3");
    const evs = await take(w, 3);
    assertEquals(
      evs.map((e) => [e.type, e.entry.key, e.entry.value, e.revision]),
      [
        ["put", "/n/a", "2", 3],
        ["delete", "/n/a", "2", 4],
        ["put", "/n/b", "3", 5],
      ],
    );
    assertEquals(evs[0].prev?.value, "1");
    ac.abort();
    assertEquals((await w.next()).done, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store watch resumes after reopening the database without gaps or repeats", async () => {
  const { dir, path } = await tempDb();
  try {
    let seen: number[] = [];
    {
      using s = openSqliteStore(path);
      const w = s.watch("/", { fromRevision: 0 });
      await s.create("/a", "1");
      await s.create("/b", "1");
      seen = (await take(w, 2)).map((e) => e.revision);
      await s.update("/a", "2"); // not consumed before the restart
    }
    using s = openSqliteStore(path);
    await s.update("/b", "2");
    const w = s.watch("/", { fromRevision: seen.at(-1)! });
    seen.push(...(await take(w, 2)).map((e) => e.revision));
    assertEquals(seen, [1, 2, 3, 4]);
    await w.return?.();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store watch from a compacted revision is Gone", async () => {
  const { dir, path } = await tempDb();
  try {
    using s = openSqliteStore(path, { historyLimit: 5 });
    for (let i = 0; i < 20; i++) await s.create(`/k/${i}`, "v");
    const compacted = await s.compactRevision();
    assert(compacted >= 10, `compacted to ${compacted}`);
    assertThrows(() => s.watch("/k/", { fromRevision: 2 }), Gone);
    const w = s.watch("/k/", { fromRevision: compacted });
    const evs = await take(w, 20 - compacted);
    assertEquals(evs[0].revision, compacted + 1);
    assertEquals(evs.at(-1)!.revision, 20);
    await w.return?.();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store watch that falls too far behind ends with Gone", async () => {
  const { dir, path } = await tempDb();
  try {
    using s = openSqliteStore(path, { watchQueueLimit: 3 });
    const w = s.watch("/", { fromRevision: 0 });
    for (let i = 0; i < 6; i++) await s.create(`/k/${i}`, "v");
    await assertRejects(() => take(w, 6), Gone);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store close ends live watches", async () => {
  const { dir, path } = await tempDb();
  try {
    const s = openSqliteStore(path);
    const w = s.watch("/", { fromRevision: 0 });
    const next = w.next();
    s.close();
    assertEquals((await next).done, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSqliteStore creates the db directory and reports an unusable path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-store-" });
  try {
    const path = `${dir}/server/db/state.db`;
    openSqliteStore(path).close();
    assertEquals((await Deno.stat(`${dir}/server/db`)).mode! & 0o777, 0o700);
    await Deno.writeTextFile(`${dir}/file`, "x");
    assertThrows(
      () => openSqliteStore(`${dir}/file/state.db`),
      StoreError,
      `cannot open the SQLite datastore ${dir}/file/state.db`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store list pages with after/limit and reads a past revision", async () => {
  const { dir, path } = await tempDb();
  try {
    using s = openSqliteStore(path);
    await s.create("/p/a", "a1");
    await s.create("/p/b", "b1");
    const at = await s.create("/p/c", "c1");
    // Changes after `at`: update b, delete c, create d, update b again.
    await s.update("/p/b", "b2");
    await s.delete("/p/c");
    await s.create("/p/d", "d1");
    await s.update("/p/b", "b3");
    const now = await s.list("/p/", { limit: 2 });
    assertEquals(now.entries.map((e) => e.value), ["a1", "b3"]);
    assert(now.more);
    const rest = await s.list("/p/", { after: "/p/b", limit: 2 });
    assertEquals(rest.entries.map((e) => e.value), ["d1"]);
    assertEquals(rest.more, false);
    const past = await s.list("/p/", { revision: at.modRevision });
    assertEquals(past.revision, at.modRevision);
    assertEquals(past.entries.map((e) => [e.key, e.value, e.modRevision]), [
      ["/p/a", "a1", 1],
      ["/p/b", "b1", 2],
      ["/p/c", "c1", 3],
    ]);
    const page2 = await s.list("/p/", {
      revision: at.modRevision,
      after: "/p/a",
      limit: 1,
    });
    assertEquals(page2.entries.map((e) => e.value), ["b1"]);
    assert(page2.more);
    await assertRejects(
      () => s.list("/p/", { revision: 99 }),
      RangeError,
    );
    await s.compact(5);
    await assertRejects(() => s.list("/p/", { revision: 3 }), Gone);
    assertEquals(
      (await s.list("/p/", { revision: 5 })).entries.map((e) => e.value),
      ["a1", "b2"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
