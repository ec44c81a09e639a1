import { assertEquals } from "@std/assert";
import {
  nodeCredentials,
  runNodeCredentialJanitor,
} from "../../../src/api/auth/mod.ts";
import { openSqliteStore } from "../../../src/store/mod.ts";

Deno.test("deleting a Node object forgets its password and revokes its token", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-janitor-" });
  const ac = new AbortController();
  using store = openSqliteStore(`${dir}/state.db`);
  try {
    const creds = nodeCredentials(dir);
    await creds.issue("node-a", "a".repeat(32));
    await creds.issue("node-b", "b".repeat(32));
    await store.create("/registry/nodes/node-a", "{}");
    await store.create("/registry/nodes/node-b", "{}");
    let ready!: () => void;
    const isReady = new Promise<void>((r) => ready = r);
    const forgotten: string[] = [];
    const task = runNodeCredentialJanitor({ dataDir: dir, store }, {
      signal: ac.signal,
      ready,
      log: (m) => forgotten.push(m),
    });
    await isReady;
    await store.delete("/registry/nodes/node-a");
    await store.update("/registry/nodes/node-b", '{"x":1}');
    await store.create("/registry/nodes/marker", "{}");
    await store.delete("/registry/nodes/marker");
    while (forgotten.length < 1) await new Promise((r) => setTimeout(r, 10));
    while ((await creds.names()).includes("node-a")) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(await creds.names(), ["node-b"]);
    ac.abort();
    await task;
    assertEquals(forgotten.length, 1);
    assertEquals(
      (await creds.issue("node-a", "c".repeat(32))).startsWith(
        "weft-node:node-a:",
      ),
      true,
    );
  } finally {
    ac.abort();
    await Deno.remove(dir, { recursive: true });
  }
});
