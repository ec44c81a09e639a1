import { assertEquals } from "@std/assert";
import { runNodeEndpoint } from "../../src/tunnel/mod.ts";

Deno.test("runNodeEndpoint: /healthz and /status until aborted", async () => {
  const ac = new AbortController();
  const port = Promise.withResolvers<number>();
  let ready = 0;
  let calls = 0;
  const done = runNodeEndpoint({
    port: 0,
    status: () => ({ nodeName: "n1", leases: 2, call: ++calls }),
    onListen: (a) => port.resolve(a.port),
  }, { signal: ac.signal, ready: () => ready++, log: () => {} });
  const base = `http://127.0.0.1:${await port.promise}`;
  assertEquals(ready, 1);
  const h = await fetch(`${base}/healthz`);
  assertEquals([h.status, await h.text()], [200, "ok"]);
  const s = await fetch(`${base}/status`);
  assertEquals(await s.json(), { nodeName: "n1", leases: 2, call: 1 });
  const missing = await fetch(`${base}/nope`);
  assertEquals(missing.status, 404);
  await missing.body?.cancel();
  const post = await fetch(`${base}/status`, { method: "POST" });
  assertEquals(post.status, 405);
  await post.body?.cancel();
  ac.abort();
  await done;
});
