import { assertEquals } from "@std/assert";
import { openSqliteStore } from "../../src/store/mod.ts";
import { storeView } from "../../src/tunnel/mod.ts";

Deno.test("storeView: every list sees the store's latest writes (its parse cache follows the revision)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-tunnel-view-" });
  const store = openSqliteStore(`${dir}/state.db`);
  try {
    const view = storeView(store);
    const names = async () =>
      (await view.listNodes()).map((n) =>
        `${n.metadata?.name}:${n.metadata?.labels?.v ?? ""}`
      );
    const node = (v: string) =>
      JSON.stringify({ metadata: { name: "a", labels: { v } } });
    assertEquals(await names(), []);
    await store.create("/registry/nodes/a", node("1"));
    assertEquals(await names(), ["a:1"]);
    assertEquals(await names(), ["a:1"]);
    // A write under another prefix moves the revision too: still right.
    await store.create("/registry/pods/default/p", "{}");
    assertEquals(await names(), ["a:1"]);
    assertEquals((await view.listPods()).length, 1);
    const cur = await store.get("/registry/nodes/a");
    await store.update("/registry/nodes/a", node("2"), cur!.modRevision);
    assertEquals(await names(), ["a:2"]);
    await store.delete("/registry/nodes/a");
    assertEquals(await names(), []);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
