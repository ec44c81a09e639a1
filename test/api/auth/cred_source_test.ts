import { assertEquals } from "@std/assert";
import { nodeCredentialsIn } from "../../../src/api/auth/mod.ts";
import { openSqliteStore } from "../../../src/store/mod.ts";

Deno.test("node credentials in a shared store: a token issued by one server is accepted by another at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-creds-" });
  try {
    using store = openSqliteStore(`${dir}/state.db`);
    // Two servers, each caching for a minute.
    const a = nodeCredentialsIn(store, 60_000);
    const b = nodeCredentialsIn(store, 60_000);
    const t1 = await a.issue("n1", "pw1");
    assertEquals(await a.verify(t1), "n1");
    assertEquals(await b.verify(t1), "n1");
    // Both servers issue at once: neither record is lost.
    const [t2, t3] = await Promise.all([
      a.issue("n2", "pw2"),
      b.issue("n3", "pw3"),
    ]);
    assertEquals(await a.names(), ["n1", "n2", "n3"]);
    assertEquals(await b.verify(t2), "n2");
    assertEquals(await a.verify(t3), "n3");
    assertEquals(await b.forget("n1"), true);
    assertEquals(await a.names(), ["n2", "n3"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
