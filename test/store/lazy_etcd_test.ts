// The etcd client (npm etcd3, gRPC) is loaded only for an etcd endpoint: no
// static import chain from main.ts reaches it, so an agent, a SQLite server
// and the CNI plugins never load it.

import { assert, assertEquals } from "@std/assert";

interface Dep {
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface Info {
  roots: string[];
  modules: { specifier: string; dependencies?: Dep[] }[];
}

Deno.test("main.ts reaches the etcd store and npm etcd3 only through dynamic imports", async () => {
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", main],
    stdout: "piped",
    stderr: "null",
  }).output();
  assertEquals(out.code, 0);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as Info;
  // Every edge into the etcd store or the etcd3 package must be dynamic.
  const isEtcd = (s: string) =>
    s.includes("etcd3") || s.endsWith("/src/store/etcd.ts");
  const staticEdges: string[] = [];
  let dynamicEdges = 0;
  for (const m of info.modules) {
    for (const d of m.dependencies ?? []) {
      if (!d.code || !isEtcd(d.code.specifier)) continue;
      if (d.isDynamic) dynamicEdges++;
      else staticEdges.push(`${m.specifier} -> ${d.code.specifier}`);
    }
  }
  assertEquals(staticEdges, []);
  assert(dynamicEdges >= 2, "open.ts and etcd.ts import dynamically");
});
