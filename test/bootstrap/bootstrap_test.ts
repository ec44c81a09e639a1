import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import {
  bootstrapKey,
  open,
  publishBootstrap,
  restoreBootstrap,
  seal,
  WrongToken,
} from "../../src/bootstrap/mod.ts";
import { ensureAdminToken } from "../../src/api/auth/mod.ts";
import { openSqliteStore } from "../../src/store/mod.ts";
import { ensureServerPKI } from "../../src/tls/mod.ts";

Deno.test("seal/open round-trips; another token or a tampered blob is WrongToken", async () => {
  const sealed = await seal("s3cret", "the CA key");
  assert(!sealed.includes("the CA key"));
  assertEquals(await open("s3cret", sealed), "the CA key");
  await assertRejects(
    () => open("other", sealed),
    WrongToken,
    "different token",
  );
  const t = JSON.parse(sealed);
  t.data = t.data.slice(0, -4) + "AAAA";
  await assertRejects(() => open("s3cret", JSON.stringify(t)), WrongToken);
  await assertRejects(() => open("s3cret", "not json"), WrongToken);
  await assertRejects(() => open("s3cret", '{"v":9}'), WrongToken);
  assertNotEquals(await bootstrapKey("a"), await bootstrapKey("b"));
  assert(/^\/bootstrap\/[0-9a-f]{12}$/.test(await bootstrapKey("a")));
});

Deno.test("a second server restores the first one's CA and tokens; a wrong token is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-bootstrap-" });
  try {
    using store = openSqliteStore(`${dir}/state.db`);
    const a = `${dir}/a`;
    const b = `${dir}/b`;
    assertEquals(await restoreBootstrap(store, a, "tok"), false);
    const pa = await ensureServerPKI({
      dataDir: a,
      token: "tok",
      addresses: [],
    });
    const adminA = await ensureAdminToken(a);
    assertEquals(await publishBootstrap(store, a, "tok"), true);
    // The stored value holds no secret in clear.
    const raw = (await store.list("/bootstrap/")).entries[0].value;
    assert(!raw.includes("PRIVATE KEY") && !raw.includes(adminA));

    assertEquals(await restoreBootstrap(store, b, "tok"), true);
    const pb = await ensureServerPKI({
      dataDir: b,
      token: "tok",
      addresses: [],
    });
    assertEquals(pb.caPem, pa.caPem);
    assertEquals(pb.agentToken, pa.agentToken);
    assertEquals(pb.token, pa.token);
    assertEquals(await ensureAdminToken(b), adminA);

    await assertRejects(
      () => restoreBootstrap(store, `${dir}/c`, "wrong"),
      WrongToken,
      "different token",
    );
    // A late first server loses the race and takes the stored data.
    const late = `${dir}/late`;
    await ensureServerPKI({ dataDir: late, token: "tok", addresses: [] });
    await ensureAdminToken(late);
    assertEquals(await publishBootstrap(store, late, "tok"), false);
    assertEquals(
      await Deno.readTextFile(`${late}/server/tls/server-ca.crt`),
      pa.caPem,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
