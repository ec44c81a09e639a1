import { assert, assertEquals, assertMatch, assertRejects } from "@std/assert";
import type { ConnectHead } from "../../src/api/mod.ts";
import type { Identity } from "../../src/api/auth/identity.ts";
import { ADMIN, node } from "./_fixture.ts";
import {
  dial,
  readUntil,
  type TestServer,
  testServer,
  writeText,
} from "./_server.ts";

/** Sends a request head on a new connection; the response head. */
async function responseHead(s: TestServer, head: string): Promise<string> {
  using conn = await dial(s);
  await writeText(conn, head);
  return await readUntil(conn, "\r\n\r\n");
}

Deno.test("the API server answers HTTPS requests with the serving certificate", async () => {
  await using s = await testServer();
  const v = await fetch(`${s.url}/version`, { client: s.client });
  assertEquals((await v.json()).major, "1");
  const created = await fetch(`${s.url}/api/v1/nodes`, {
    client: s.client,
    method: "POST",
    headers: { authorization: ADMIN },
    body: JSON.stringify(node("a")),
  });
  assertEquals(created.status, 201);
  assertEquals((await created.json()).spec.podCIDR, "10.42.0.0/24");
  const unauth = await fetch(`${s.url}/api/v1/nodes`, { client: s.client });
  assertEquals(unauth.status, 401);
  assertEquals((await unauth.json()).kind, "Status");
});

Deno.test("CONNECT goes to deps.connect with the target, headers and identity", async () => {
  const seen: { head: ConnectHead; id: Identity | null }[] = [];
  await using s = await testServer({
    connect: async (conn, head, id) => {
      seen.push({ head, id });
      await writeText(conn, "HTTP/1.1 200 Connection established\r\n\r\n");
      const echo = await readUntil(conn, "\n");
      await writeText(conn, `echo:${echo}`);
    },
  });
  {
    using conn = await dial(s);
    await writeText(
      conn,
      `CONNECT 10.42.1.5:80 HTTP/1.1\r\nHost: 10.42.1.5:80\r\nAuthorization: ${ADMIN}\r\n\r\n`,
    );
    const status = await readUntil(conn, "\r\n\r\n");
    assertMatch(status, /^HTTP\/1\.1 200/);
    await writeText(conn, "hello\n");
    assertEquals(await readUntil(conn, "hello\n"), "echo:hello\n");
  }
  assertEquals(seen.length, 1);
  assertEquals(seen[0].head.target, "10.42.1.5:80");
  assertEquals(seen[0].head.headers.get("host"), "10.42.1.5:80");
  assertEquals(seen[0].id?.user, "system:admin");
});

Deno.test("CONNECT without a connect handler is 405; without credentials the identity is null", async () => {
  await using s = await testServer();
  assertMatch(
    await responseHead(
      s,
      "CONNECT 1.2.3.4:80 HTTP/1.1\r\nHost: 1.2.3.4:80\r\n\r\n",
    ),
    /^HTTP\/1\.1 405/,
  );
  const ids: (Identity | null)[] = [];
  await using t = await testServer({
    connect: async (c, _head, id) => {
      ids.push(id);
      await writeText(
        c,
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
      );
    },
  });
  assertMatch(
    await responseHead(t, "CONNECT 1.2.3.4:80 HTTP/1.1\r\n\r\n"),
    /^HTTP\/1\.1 401/,
  );
  assertEquals(ids, [null]);
});

Deno.test("a malformed CONNECT head is answered 400", async () => {
  await using s = await testServer({ connect: () => Promise.resolve() });
  assertMatch(
    await responseHead(s, "CONNECT nonsense\r\n\r\n"),
    /^HTTP\/1\.1 400/,
  );
});

Deno.test("close() ends open watch streams and stops listening", async () => {
  const s = await testServer();
  const res = await fetch(`${s.url}/api/v1/nodes?watch=1`, {
    client: s.client,
    headers: { authorization: ADMIN },
  });
  assertEquals(res.status, 200);
  const body = res.text().catch((e) => `error: ${e}`);
  await s[Symbol.asyncDispose]();
  assertEquals(typeof (await body), "string");
  const refused = await Deno.connect({
    hostname: "127.0.0.1",
    port: s.server.port,
  }).then(
    (c) => {
      c.close();
      return false;
    },
    () => true,
  );
  assert(refused, "the port still accepts connections after close()");
});

Deno.test("the server gives nodes that have no podCIDR one at start", async () => {
  await using s = await testServer({
    setup: async (store) => {
      const { createApp } = await import("../../src/api/mod.ts");
      const { testAuthenticate } = await import("./_fixture.ts");
      const app = createApp({ store, authenticate: testAuthenticate });
      await app.request("/api/v1/nodes", {
        method: "POST",
        headers: { authorization: ADMIN },
        body: JSON.stringify(node("old")),
      });
    },
  });
  const n = await (await fetch(`${s.url}/api/v1/nodes/old`, {
    client: s.client,
    headers: { authorization: ADMIN },
  })).json();
  assertEquals(n.spec.podCIDR, "10.42.0.0/24");
});

Deno.test("a port already in use is a clear ApiServerError", async () => {
  await using s = await testServer();
  const { ApiServerError, startApiServer } = await import(
    "../../src/api/mod.ts"
  );
  const { testAuthenticate } = await import("./_fixture.ts");
  const err = await assertRejects(
    () =>
      startApiServer({
        store: s.store,
        authenticate: testAuthenticate,
        cert: s.tls.cert,
        key: s.tls.key,
        port: s.server.port,
        hostname: "127.0.0.1",
      }),
    ApiServerError,
  );
  assertMatch(err.message, new RegExp(`127\\.0\\.0\\.1:${s.server.port}`));
});

Deno.test("close() lets a request in flight finish", async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const s = await testServer({
    nodeProxy: async () => {
      entered();
      await released;
      return new Response("late but complete");
    },
  });
  try {
    await fetch(`${s.url}/api/v1/nodes`, {
      client: s.client,
      method: "POST",
      headers: { authorization: ADMIN },
      body: JSON.stringify(node("a")),
    }).then((r) => r.body?.cancel());
    const pending = fetch(`${s.url}/api/v1/nodes/a/proxy/x`, {
      client: s.client,
      headers: { authorization: ADMIN },
    });
    await inside;
    const closed = s.server.close();
    release();
    const res = await pending;
    assertEquals(await res.text(), "late but complete");
    await closed;
  } finally {
    await s[Symbol.asyncDispose]();
  }
});

Deno.test("a watch client that disconnects releases its server-side watch", async () => {
  const { openSqliteStore } = await import("../../src/store/mod.ts");
  const dir = await Deno.makeTempDir({ prefix: "weft-api-disc-" });
  const inner = openSqliteStore(`${dir}/state.db`);
  let open = 0;
  const store: typeof inner = {
    revision: () => inner.revision(),
    get: (k) => inner.get(k),
    list: (p) => inner.list(p),
    create: (k, v) => inner.create(k, v),
    update: (k, v, r) => inner.update(k, v, r),
    delete: (k, r) => inner.delete(k, r),
    txn: (c, o) => inner.txn(c, o),
    compactRevision: () => inner.compactRevision(),
    compact: (r) => inner.compact(r),
    close: () => inner.close(),
    [Symbol.dispose]: () => inner.close(),
    watch: (prefix, opts) => {
      const it = inner.watch(prefix, opts);
      open++;
      return (async function* () {
        try {
          yield* it;
        } finally {
          open--;
        }
      })();
    },
  };
  try {
    await using s = await testServer({ store });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${s.url}/api/v1/nodes?watch=1`, {
        client: s.client,
        headers: { authorization: ADMIN },
      });
      assertEquals(res.status, 200);
      await res.body!.cancel();
    }
    // Bounded wait for the disconnects to travel through the front listener.
    for (let i = 0; i < 500 && open > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(open, 0);
  } finally {
    inner.close();
    await Deno.remove(dir, { recursive: true });
  }
});
