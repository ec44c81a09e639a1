// Once-per-cluster loops on etcd: one holder at a time; when the holder is
// killed (-9, no goodbye), its lease expires and another server takes over.
// The compactor (one of those loops) trims etcd's history.

import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  Gone,
  openStore,
  runCompactor,
  runOncePerCluster,
} from "../../src/store/mod.ts";
import { EtcdCluster, haveEtcd } from "../harness/etcd.ts";

Deno.test({
  name: "runOncePerCluster on etcd: one holder; a killed holder's loop moves",
  ignore: !haveEtcd(),
  fn: async () => {
    await using etcd = await EtcdCluster.start();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./_leader.ts", import.meta.url).pathname,
        etcd.endpoint,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    try {
      let out = "";
      while (!out.includes("leading")) {
        const r = await reader.read();
        if (r.done) break;
        out += r.value;
      }
      assert(out.includes("leading"), "the child leads");
      using store = await openStore(etcd.endpoint, { dataDir: "/x" });
      const ac = new AbortController();
      const runs: string[] = [];
      let led!: () => void;
      const leading = new Promise<void>((r) => (led = r));
      const loop = runOncePerCluster(store, "loop", "me", async (signal) => {
        runs.push("start");
        led();
        await new Promise((r) => signal.addEventListener("abort", r));
      }, ac.signal);
      // While the child holds the loop, this one waits.
      const holder = await store.get("/weft/leader/loop");
      assertEquals(holder?.value, "child");
      assertEquals(runs, []);
      child.kill("SIGKILL");
      await child.status;
      await leading;
      assertEquals(runs, ["start"]);
      assertEquals((await store.get("/weft/leader/loop"))?.value, "me");
      ac.abort();
      await loop;
      assertEquals(await store.get("/weft/leader/loop"), null);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await reader.cancel().catch(() => {});
      await child.status;
    }
  },
});

Deno.test({
  name: "runCompactor compacts etcd to the revision seen one interval earlier",
  ignore: !haveEtcd(),
  fn: async () => {
    await using etcd = await EtcdCluster.start();
    using store = await openStore(etcd.endpoint, { dataDir: "/x" });
    const first = await store.create("/c/0", "v");
    for (let i = 1; i < 10; i++) await store.create(`/c/${i}`, "v");
    const ac = new AbortController();
    const logs: string[] = [];
    const run = runCompactor(store, ac.signal, 20, (m) => logs.push(m));
    while (logs.length === 0) await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await run;
    assert(logs[0].startsWith("compacted etcd history"), logs[0]);
    assert(await store.compactRevision() >= first.modRevision + 8);
    await assertRejects(async () => {
      const w = store.watch("/c/", { fromRevision: first.modRevision });
      try {
        await w.next();
      } finally {
        await w.return?.();
      }
    }, Gone);
  },
});
