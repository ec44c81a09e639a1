// Child process for the durability test: writes keys one by one into the
// store at argv[0] and prints "acked <key>" after each write returns, until
// it is killed.

import { openSqliteStore } from "../../src/store/mod.ts";

const store = openSqliteStore(Deno.args[0]);
const enc = new TextEncoder();
for (let i = 0;; i++) {
  const key = `/registry/nodes/n${i}`;
  await store.create(key, JSON.stringify({ i }));
  await Deno.stdout.write(enc.encode(`acked ${key}\n`));
}
