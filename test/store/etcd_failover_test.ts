// The etcd store across member failures (3 members on loopback): a watch
// whose member dies resumes where it stopped once it can reach a member
// again, with no gap and no repeat; writes through a store that knows every
// member go on while one member is down.

import { assertEquals } from "@std/assert";
import { openStore } from "../../src/store/mod.ts";
import { EtcdCluster, haveEtcd } from "../harness/etcd.ts";
import { take } from "./_contract.ts";

Deno.test({
  name: "etcd store: a watch resumes after its member dies, writes go on",
  ignore: !haveEtcd(),
  fn: async () => {
    await using etcd = await EtcdCluster.start({ size: 3 });
    const opts = { dataDir: "/nonexistent", requestTimeoutMs: 5000 };
    // The watcher knows member 0 only; the writer knows all three.
    using watcher = await openStore(etcd.members[0].clientUrl, opts);
    using writer = await openStore(etcd.endpoint, opts);
    const from = await writer.revision();
    const w = watcher.watch("/k/", { fromRevision: from });
    const written: number[] = [];
    for (let i = 0; i < 5; i++) {
      written.push((await writer.create(`/k/a${i}`, "v")).modRevision);
    }
    const seen = (await take(w, 5)).map((e) => e.revision);
    await etcd.kill(0);
    for (let i = 0; i < 5; i++) {
      written.push((await writer.create(`/k/b${i}`, "v")).modRevision);
    }
    await etcd.restart(0);
    seen.push(...(await take(w, 5)).map((e) => e.revision));
    assertEquals(seen, written);
    await w.return?.();
  },
});
