import { assert, assertEquals } from "@std/assert";
import { openSqliteStore } from "../../src/store/mod.ts";

Deno.test("an acknowledged write survives kill -9 of the writer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-store-kill-" });
  const path = `${dir}/state.db`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./_writer.ts", import.meta.url).pathname,
      path,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const acked: string[] = [];
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let buf = "";
    while (acked.length < 50) {
      const r = await reader.read();
      if (r.done) break;
      buf += r.value;
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) if (l.startsWith("acked ")) acked.push(l.slice(6));
    }
    child.kill("SIGKILL");
    const status = await child.status;
    assertEquals(status.signal, "SIGKILL");
    // Drain whatever was acked before the kill landed.
    while (true) {
      const r = await reader.read();
      if (r.done) break;
      buf += r.value;
    }
    for (const l of buf.split("\n")) {
      if (l.startsWith("acked ")) acked.push(l.slice(6));
    }
    assert(acked.length >= 50, `only ${acked.length} writes acked`);

    using store = openSqliteStore(path);
    for (const key of acked) {
      assert(await store.get(key), `acked write ${key} lost after kill -9`);
    }
    const { entries, revision } = await store.list("/registry/nodes/");
    assert(entries.length >= acked.length);
    assertEquals(revision, entries.length);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the database file is in WAL journal mode", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-store-pragma-" });
  try {
    const path = `${dir}/state.db`;
    openSqliteStore(path).close();
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(path);
    const mode = db.prepare("PRAGMA journal_mode").get() as {
      journal_mode: string;
    };
    db.close();
    assertEquals(mode.journal_mode, "wal");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
