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
    for (let i = 0; forgotten.length < 1; i++) {
      if (i > 500) throw new Error("node-a was never forgotten");
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

Deno.test("at start the janitor forgets registered nodes deleted while it was down, not unregistered joins", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-janitor-" });
  using store = openSqliteStore(`${dir}/state.db`);
  const run = async () => {
    const ac = new AbortController();
    const log: string[] = [];
    let ready!: () => void;
    const isReady = new Promise<void>((r) => ready = r);
    const task = runNodeCredentialJanitor({ dataDir: dir, store }, {
      signal: ac.signal,
      ready,
      log: (m) => log.push(m),
    });
    await isReady;
    return { log, stop: async () => (ac.abort(), await task) };
  };
  try {
    const creds = nodeCredentials(dir);
    await creds.issue("old", "a".repeat(32));
    await store.create("/registry/nodes/old", "{}");
    const first = await run();
    await first.stop();
    await store.delete("/registry/nodes/old");
    await creds.issue("joining", "b".repeat(32));
    const second = await run();
    await second.stop();
    assertEquals(await creds.names(), ["joining"]);
    assertEquals(second.log.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a Node created after its join marks the credential registered", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-janitor-" });
  using store = openSqliteStore(`${dir}/state.db`);
  const ac = new AbortController();
  try {
    const creds = nodeCredentials(dir);
    await creds.issue("late", "a".repeat(32));
    let ready!: () => void;
    const isReady = new Promise<void>((r) => ready = r);
    const task = runNodeCredentialJanitor({ dataDir: dir, store }, {
      signal: ac.signal,
      ready,
      log: () => {},
    });
    await isReady;
    await store.create("/registry/nodes/late", "{}");
    const file = `${dir}/server/cred/node-passwd.json`;
    for (
      let i = 0;
      !JSON.parse(await Deno.readTextFile(file)).nodes.late.registered;
      i++
    ) {
      if (i > 500) {
        throw new Error("the credential was never marked registered");
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    ac.abort();
    await task;
  } finally {
    ac.abort();
    await Deno.remove(dir, { recursive: true });
  }
});
