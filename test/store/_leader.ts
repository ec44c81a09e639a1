// Child of etcd_loops_test.ts: leads "loop" on the etcd at argv[0], prints
// "leading" once it holds it, and waits to be killed.

import { openStore, runOncePerCluster } from "../../src/store/mod.ts";

const store = await openStore(Deno.args[0], { dataDir: "/nonexistent" });
await runOncePerCluster(store, "loop", "child", async (signal) => {
  console.log("leading");
  await new Promise((r) => signal.addEventListener("abort", r));
}, new AbortController().signal);
