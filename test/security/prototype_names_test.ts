// Issue 11 row 6: node name `constructor` could not join — the credential
// file lookup `data.nodes[name]` found Object.prototype.constructor -> 500.
// Lookups keyed by user-supplied names use own properties only: such a
// node joins and works; names that are not node names get 400, never 500;
// a label selector on `constructor` matches only objects with that label.

import { assertEquals, assertMatch } from "@std/assert";
import {
  createAuthenticator,
  joinRoutes,
  NodeCredentials,
} from "../../src/api/auth/mod.ts";
import { createApp } from "../../src/api/mod.ts";
import { openSqliteStore } from "../../src/store/mod.ts";
import { parseToken } from "../../src/tls/mod.ts";
import { withServerPKI } from "../harness/pki.ts";
import { node, testApi } from "../api/_fixture.ts";

const PASSWORD = "p".repeat(32);

Deno.test("security row 6: nodes named after Object.prototype members join and manage their Node", () =>
  withServerPKI("weft-sec-proto-", async (dir, pki) => {
    using store = openSqliteStore(":memory:");
    const app = createApp({
      store,
      authenticate: createAuthenticator({ dataDir: dir }),
      extraRoutes: [(a) => joinRoutes(a, { dataDir: dir })],
    });
    const secret = parseToken(pki.agentToken).password;
    const join = (name: string) =>
      app.request("/v1-weft/node-credential", {
        method: "POST",
        headers: {
          authorization: `Basic ${btoa(`node:${secret}`)}`,
          "Weft-Node-Name": name,
          "Weft-Node-Password": PASSWORD,
        },
      });
    for (const name of ["constructor", "valueof", "hasownproperty"]) {
      const res = await join(name);
      assertEquals(res.status, 200, await res.clone().text());
      const { token } = await res.json();
      const h = { authorization: `Bearer ${token}` };
      const created = await app.request("/api/v1/nodes", {
        method: "POST",
        headers: h,
        body: JSON.stringify(node(name)),
      });
      assertEquals(created.status, 201, await created.clone().text());
      const got = await app.request(`/api/v1/nodes/${name}`, { headers: h });
      assertEquals((await got.json()).metadata.name, name);
      // A second join with the same password renews the token.
      assertEquals((await join(name)).status, 200);
    }
    for (const name of ["__proto__", "toString", "__defineGetter__"]) {
      const res = await join(name);
      assertEquals(res.status, 400, name);
      assertMatch((await res.json()).message, /node name/);
    }
  }));

Deno.test("security row 6: a credential file with a __proto__ entry neither breaks nor pollutes lookups", () =>
  withServerPKI("weft-sec-proto-", async (dir) => {
    const creds = new NodeCredentials(dir, 0);
    await creds.issue("a", PASSWORD);
    const file = JSON.parse(await Deno.readTextFile(creds.path));
    file.nodes = JSON.parse(
      `{"__proto__": {"passwordHash": "x", "tokenHash": "y", "issuedAt": "z"}, "a": ${
        JSON.stringify(file.nodes.a)
      }}`,
    );
    await Deno.writeTextFile(creds.path, JSON.stringify(file));
    const fresh = new NodeCredentials(dir, 0);
    assertEquals((await fresh.names()).includes("a"), true);
    assertEquals(
      await fresh.verify("weft-node:constructor:" + "0".repeat(64)),
      null,
    );
    const token = await fresh.issue("constructor", PASSWORD);
    assertEquals(await fresh.verify(token), "constructor");
    assertEquals(await fresh.forget("tostring"), false);
  }));

Deno.test("security row 6: a label selector on constructor or toString matches only objects carrying that label", async () => {
  await using api = await testApi();
  await api.call(
    "POST",
    "/api/v1/nodes",
    node("a", { metadata: { name: "a", labels: { x: "1" } } }),
  );
  await api.call(
    "POST",
    "/api/v1/nodes",
    node("b", { metadata: { name: "b", labels: { constructor: "yes" } } }),
  );
  const names = async (sel: string) => {
    const res = await api.call(
      "GET",
      `/api/v1/nodes?labelSelector=${encodeURIComponent(sel)}`,
    );
    assertEquals(res.status, 200);
    return (await res.json()).items.map((n: { metadata: { name: string } }) =>
      n.metadata.name
    );
  };
  assertEquals(await names("constructor"), ["b"]);
  assertEquals(await names("toString"), []);
  assertEquals(await names("!constructor"), ["a"]);
  assertEquals(await names("constructor=yes"), ["b"]);
});
