// A long-lived etcd watch is not cut by the per-request deadline: watches
// that outlive several deadlines neither miss events nor trip the client's
// circuit breaker, so requests keep working.

import { assertEquals } from "@std/assert";
import { openStore } from "../../src/store/mod.ts";
import { EtcdCluster, haveEtcd } from "../harness/etcd.ts";
import { take } from "./_contract.ts";

Deno.test({
  name: "etcd store: watches outlive the request deadline; requests still work",
  ignore: !haveEtcd(),
  fn: async () => {
    await using etcd = await EtcdCluster.start();
    using s = await openStore(etcd.endpoint, {
      dataDir: "/x",
      requestTimeoutMs: 200,
    });
    const from = await s.revision();
    const watches = [0, 1, 2].map(() =>
      s.watch("/idle/", { fromRevision: from })
    );
    // Idle for several deadlines.
    await new Promise((r) => setTimeout(r, 1500));
    const e = await s.create("/idle/k", "v");
    assertEquals((await s.get("/idle/k"))?.modRevision, e.modRevision);
    for (const w of watches) {
      assertEquals((await take(w, 1)).map((x) => x.revision), [e.modRevision]);
      await w.return?.();
    }
  },
});
