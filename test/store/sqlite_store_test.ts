// SQLite-specific behaviour; the shared Store contract is in
// store_contract_test.ts.

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { Gone, openSqliteStore, StoreError } from "../../src/store/mod.ts";
import { take } from "./_contract.ts";

async function tempDb(): Promise<{ path: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "weft-store-" });
  return { dir, path: `${dir}/state.db` };
}

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
