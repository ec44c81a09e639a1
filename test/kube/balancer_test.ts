import { assertEquals } from "@std/assert";
import { Balancer, KubeClient } from "../../src/kube/mod.ts";
import { withWeftServer } from "./_weft_server.ts";

Deno.test("Balancer moves to the next healthy server and rests the failed one", () => {
  const b = new Balancer("https://10.0.0.1:6443/");
  b.update(["https://10.0.0.2:6443", "https://10.0.0.3:6443"]);
  assertEquals(b.servers, [
    "https://10.0.0.1:6443",
    "https://10.0.0.2:6443",
    "https://10.0.0.3:6443",
  ]);
  assertEquals(b.current(), "https://10.0.0.1:6443");
  const t = 1_000_000;
  assertEquals(b.failed("https://10.0.0.1:6443", t), "https://10.0.0.2:6443");
  assertEquals(b.failed("https://10.0.0.2:6443", t), "https://10.0.0.3:6443");
  // Every server failed just now: simply the next one.
  assertEquals(b.failed("https://10.0.0.3:6443", t), "https://10.0.0.1:6443");
});

Deno.test("Balancer keeps the --server fallback, drops what is not https, bounds the list", () => {
  const b = new Balancer("https://s1:6443");
  const changes: string[][] = [];
  b.onChange((l) => changes.push(l));
  b.update(["http://evil:80", "not a url", "https://s2:6443"]);
  assertEquals(b.servers, ["https://s1:6443", "https://s2:6443"]);
  assertEquals(b.learned, ["https://s2:6443"]);
  b.update(["https://s2:6443"]);
  assertEquals(changes, [["https://s2:6443"]]);
  b.update(Array.from({ length: 1000 }, (_, i) => `https://n${i}:6443`));
  assertEquals(b.learned.length, 32);
});

Deno.test("KubeClient with a balancer skips a server that refuses connections", async () => {
  await withWeftServer("weft-balancer-", async (srv) => {
    const down = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const dead = `https://127.0.0.1:${(down.addr as Deno.NetAddr).port}`;
    down.close();
    const b = new Balancer(dead);
    b.update([dead, srv.url]);
    assertEquals(b.current(), dead);
    const token = (await Deno.readTextFile(`${srv.dataDir}/server/token`))
      .trim();
    using c = new KubeClient({
      server: dead,
      caPem: srv.pki.caPem,
      token,
      balancer: b,
    });
    const list = await c.list("/api/v1/nodes");
    assertEquals(list.items, []);
    assertEquals(b.current(), srv.url);
  });
});
