import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  openStore,
  parseDatastoreEndpoint,
  StoreError,
} from "../../src/store/mod.ts";

Deno.test("parseDatastoreEndpoint: K3s's syntax for SQLite and etcd", () => {
  assertEquals(parseDatastoreEndpoint(undefined, "/d/state.db"), {
    kind: "sqlite",
    path: "/d/state.db",
  });
  assertEquals(
    parseDatastoreEndpoint("sqlite:///var/x.db?_journal=WAL", "/d"),
    { kind: "sqlite", path: "/var/x.db" },
  );
  assertEquals(
    parseDatastoreEndpoint("https://etcd-1:2379, https://10.0.0.2", "/d"),
    {
      kind: "etcd",
      endpoints: ["https://etcd-1:2379", "https://10.0.0.2:2379"],
    },
  );
  assertEquals(parseDatastoreEndpoint("http://[::1]:2379", "/d"), {
    kind: "etcd",
    endpoints: ["http://[::1]:2379"],
  });
});

Deno.test("parseDatastoreEndpoint: hostile or wrong endpoints are one line naming the part", () => {
  const bad: [string, string][] = [
    ["mysql://root@tcp(db)/k3s", "the mysql:// scheme is not supported"],
    ["postgres://x", "the postgres:// scheme is not supported"],
    ["etcd-1:2379", "no scheme"],
    ["https://a:2379,http://b:2379", "mixes http:// and https://"],
    ["https://a:2379,ftp://b", "every etcd URL is http:// or https://"],
    ["https://user:pw@a:2379", "scheme://host:port, nothing more"],
    ["https://a:2379/prefix", "scheme://host:port, nothing more"],
    ["https://a:99999", "is not a URL"],
    [",,,", "no scheme"],
    [
      Array.from({ length: 17 }, (_, i) => `http://e${i}:2379`).join(","),
      "give 1 to 16 etcd URLs",
    ],
  ];
  for (const [endpoint, msg] of bad) {
    const e = assertThrows(
      () => parseDatastoreEndpoint(endpoint, "/d"),
      StoreError,
    );
    assertEquals(e.message.includes(msg), true, `${endpoint}: ${e.message}`);
    assertEquals(e.message.includes("\n"), false);
  }
});

Deno.test("openStore refuses TLS files with SQLite and https without a CA", async () => {
  await assertRejects(
    () =>
      openStore("sqlite:///nonexistent/x.db", {
        dataDir: "/nonexistent",
        caFile: "/ca.crt",
      }),
    StoreError,
    "apply to an etcd endpoint only",
  );
  await assertRejects(
    () => openStore("https://127.0.0.1:1", { dataDir: "/nonexistent" }),
    StoreError,
    "needs --datastore-cafile",
  );
  await assertRejects(
    () =>
      openStore("https://127.0.0.1:1", {
        dataDir: "/nonexistent",
        caFile: "/nonexistent/ca.crt",
      }),
    StoreError,
    "cannot read the datastore CA file /nonexistent/ca.crt",
  );
});
