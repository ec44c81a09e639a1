// The Store contract on both stores: SQLite (a temp file) and etcd (one
// Debian etcd-server member on loopback, started here).

import { openSqliteStore, openStore, type Store } from "../../src/store/mod.ts";
import { EtcdCluster, haveEtcd } from "../harness/etcd.ts";
import { CONTRACT, type StoreKit } from "./_contract.ts";

Deno.test("Store contract on SQLite", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "weft-store-" });
  try {
    let n = 0;
    let path = "";
    const kit: StoreKit = {
      fresh: (opts) => {
        path = `${dir}/state-${n++}.db`;
        return Promise.resolve(openSqliteStore(path, opts));
      },
      reopen: () => Promise.resolve(openSqliteStore(path)),
    };
    for (const [name, run] of CONTRACT) await t.step(name, () => run(kit));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function wipe(s: Store): Promise<void> {
  const all = await s.list("");
  for (let i = 0; i < all.entries.length; i += 100) {
    await s.txn(
      [],
      all.entries.slice(i, i + 100).map((e) => ({
        type: "delete",
        key: e.key,
      })),
    );
  }
}

Deno.test({
  name: "Store contract on etcd",
  ignore: !haveEtcd(),
  fn: async (t) => {
    await using etcd = await EtcdCluster.start();
    const open = async () => {
      const { openEtcdStore } = await import("../../src/store/etcd.ts");
      return openEtcdStore;
    };
    const kit: StoreKit = {
      fresh: async (opts) => {
        const s = await (await open())({
          endpoints: [etcd.members[0].clientUrl],
          watchQueueLimit: opts?.watchQueueLimit,
        });
        await wipe(s);
        return s;
      },
      reopen: () => openStore(etcd.endpoint, { dataDir: "/nonexistent" }),
    };
    for (const [name, run] of CONTRACT) await t.step(name, () => run(kit));
  },
});
if (!haveEtcd()) {
  console.log(
    "etcd contract skipped: /usr/bin/etcd missing (apt-get install etcd-server)",
  );
}
