// The Store contract, as cases any store must pass (SQLite and etcd run
// them in store_contract_test.ts). Revisions are checked relative to the
// store's revision at the start, since an etcd under test keeps counting.

import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  AlreadyExists,
  Conflict,
  Gone,
  NotFound,
  type Store,
  type StoreEvent,
} from "../../src/store/mod.ts";

export interface StoreKit {
  /** A store with no keys (its revision need not be 0). */
  fresh(opts?: { watchQueueLimit?: number }): Promise<Store>;
  /** Another handle on the same data (a restart of the process). */
  reopen(): Promise<Store>;
}

export async function take(
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

export const CONTRACT: [string, (kit: StoreKit) => Promise<void>][] = [
  ["create/get/update/delete keep revisions monotonic", async (kit) => {
    using s = await kit.fresh();
    const base = await s.revision();
    const a = await s.create("/registry/nodes/a", "1");
    assertEquals(a.createRevision, base + 1);
    assertEquals(a.modRevision, base + 1);
    await assertRejects(
      () => s.create("/registry/nodes/a", "x"),
      AlreadyExists,
    );
    const a2 = await s.update("/registry/nodes/a", "2", a.modRevision);
    assertEquals(a2.modRevision, base + 2);
    assertEquals(a2.createRevision, base + 1);
    assertEquals((await s.get("/registry/nodes/a"))?.value, "2");
    const d = await s.delete("/registry/nodes/a");
    assertEquals(d.modRevision, base + 3);
    assertEquals(d.value, "2");
    assertEquals(await s.get("/registry/nodes/a"), null);
    await assertRejects(() => s.delete("/registry/nodes/a"), NotFound);
    await assertRejects(() => s.update("/registry/nodes/a", "3"), NotFound);
    assertEquals(await s.revision(), base + 3);
  }],
  ["update with a stale revision is a Conflict", async (kit) => {
    using s = await kit.fresh();
    const a = await s.create("/k", "1");
    const b = await s.update("/k", "2", a.modRevision);
    const err = await assertRejects(
      () => s.update("/k", "3", a.modRevision),
      Conflict,
    );
    assertEquals(err.actual, b.modRevision);
    await assertRejects(() => s.delete("/k", a.modRevision), Conflict);
    assertEquals((await s.get("/k"))?.value, "2");
  }],
  [
    "list returns a prefix range in key order with the revision",
    async (kit) => {
      using s = await kit.fresh();
      await s.create("/registry/pods/b/x", "1");
      await s.create("/registry/pods/a/y", "2");
      await s.create("/registry/podsx", "3");
      const last = await s.create("/registry/nodes/n", "4");
      const l = await s.list("/registry/pods/");
      assertEquals(l.entries.map((e) => e.key), [
        "/registry/pods/a/y",
        "/registry/pods/b/x",
      ]);
      assertEquals(l.revision, last.modRevision);
    },
  ],
  ["list pages through more keys than one response holds", async (kit) => {
    using s = await kit.fresh();
    const want: string[] = [];
    for (let i = 0; i < 1200; i++) {
      want.push(`/many/${String(i).padStart(4, "0")}`);
    }
    for (let i = 0; i < want.length; i += 100) {
      await s.txn(
        [],
        want.slice(i, i + 100).map((key) => ({ type: "put", key, value: "v" })),
      );
    }
    const l = await s.list("/many/");
    assertEquals(l.entries.map((e) => e.key), want);
  }],
  ["txn applies all ops or none", async (kit) => {
    using s = await kit.fresh();
    await s.create("/b", "taken");
    const before = await s.revision();
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
    assertEquals(await s.revision(), before);
    const ok = await s.txn([{ key: "/a", modRevision: 0 }], [
      { type: "put", key: "/a", value: "1" },
      { type: "delete", key: "/b" },
      { type: "delete", key: "/missing" },
    ]);
    assert(ok.succeeded);
    assertEquals(ok.results[0]?.value, "1");
    assertEquals(ok.results[1]?.value, "taken");
    assertEquals(ok.results[2], null);
    assert(ok.results[0]!.modRevision > before);
    assertEquals(ok.results[1]!.modRevision, ok.revision);
    assertEquals(await s.get("/b"), null);
  }],
  [
    "watch replays history after a revision, then follows live writes",
    async (kit) => {
      using s = await kit.fresh();
      const a = await s.create("/n/a", "1");
      await s.create("/other", "x");
      const a2 = await s.update("/n/a", "2");
      const ac = new AbortController();
      const w = s.watch("/n/", {
        fromRevision: a.modRevision,
        signal: ac.signal,
      });
      const d = await s.delete("/n/a");
      const b = await s.create("/n/b", "3");
      const evs = await take(w, 3);
      assertEquals(
        evs.map((e) => [e.type, e.entry.key, e.entry.value, e.revision]),
        [
          ["put", "/n/a", "2", a2.modRevision],
          ["delete", "/n/a", "2", d.modRevision],
          ["put", "/n/b", "3", b.modRevision],
        ],
      );
      assertEquals(evs[0].prev?.value, "1");
      assertEquals(evs[1].entry.modRevision, d.modRevision);
      ac.abort();
      assertEquals((await w.next()).done, true);
    },
  ],
  ["watch resumes on another handle without gaps or repeats", async (kit) => {
    const seen: number[] = [];
    const written: number[] = [];
    {
      using s = await kit.fresh();
      const from = await s.revision();
      const w = s.watch("/", { fromRevision: from });
      written.push((await s.create("/a", "1")).modRevision);
      written.push((await s.create("/b", "1")).modRevision);
      seen.push(...(await take(w, 2)).map((e) => e.revision));
      written.push((await s.update("/a", "2")).modRevision); // not consumed
      await w.return?.();
    }
    using s = await kit.reopen();
    written.push((await s.update("/b", "2")).modRevision);
    const w = s.watch("/", { fromRevision: seen.at(-1)! });
    seen.push(...(await take(w, 2)).map((e) => e.revision));
    assertEquals(seen, written);
    await w.return?.();
  }],
  [
    "watchers from different revisions each get exactly the events after theirs",
    async (kit) => {
      using s = await kit.fresh();
      const revs: number[] = [await s.revision()];
      for (let i = 0; i < 5; i++) {
        revs.push((await s.create(`/w/${i}`, "v")).modRevision);
      }
      const watches = revs.map((r) => s.watch("/w/", { fromRevision: r }));
      // Live events, one of them a transaction of three puts.
      const t = await s.txn([], [
        { type: "put", key: "/w/a", value: "1" },
        { type: "put", key: "/w/b", value: "1" },
        { type: "put", key: "/w/c", value: "1" },
      ]);
      const last = await s.create("/w/z", "v");
      for (const [i, w] of watches.entries()) {
        const want = [
          ...revs.slice(i + 1).map((r) => `${r}`),
          ...t.results.map((e) => `${e!.modRevision}:${e!.key}`),
          `${last.modRevision}`,
        ];
        const got = await take(w, want.length);
        assertEquals(
          got.map((e) =>
            e.entry.key.length === 4 && "abc".includes(e.entry.key[3])
              ? `${e.revision}:${e.entry.key}`
              : `${e.revision}`
          ),
          want,
          `watch from ${revs[i]}`,
        );
        await w.return?.();
      }
    },
  ],
  ["watch from a compacted revision is Gone", async (kit) => {
    using s = await kit.fresh();
    const revs: number[] = [];
    for (let i = 0; i < 20; i++) {
      revs.push((await s.create(`/k/${i}`, "v")).modRevision);
    }
    await s.compact(revs[10]);
    const compacted = await s.compactRevision();
    assert(
      compacted >= revs[9] && compacted <= revs[10],
      `compacted ${compacted}`,
    );
    await assertRejects(async () => {
      const w = s.watch("/k/", { fromRevision: revs[2] });
      try {
        await w.next();
      } finally {
        await w.return?.();
      }
    }, Gone);
    const w = s.watch("/k/", { fromRevision: revs[10] });
    const evs = await take(w, 9);
    assertEquals(evs.map((e) => e.revision), revs.slice(11));
    await w.return?.();
  }],
  ["watch that falls too far behind ends with Gone", async (kit) => {
    using s = await kit.fresh({ watchQueueLimit: 3 });
    const from = await s.revision();
    const w = s.watch("/k/", { fromRevision: from });
    const sync = s.watch("/sync", { fromRevision: from });
    for (let i = 0; i < 6; i++) await s.create(`/k/${i}`, "v");
    // A later event on another watch of the same store: once it arrives,
    // the six before it have reached the first watch's queue.
    await s.create("/sync", "v");
    assertEquals((await take(sync, 1)).length, 1);
    await assertRejects(() => take(w, 6), Gone);
    await sync.return?.();
  }],
  ["close ends live watches", async (kit) => {
    const s = await kit.fresh();
    const w = s.watch("/", { fromRevision: await s.revision() });
    const next = w.next();
    s.close();
    assertEquals((await next).done, true);
  }],
];
