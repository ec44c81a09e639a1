import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import {
  createAuthenticator,
  forgetNode,
  joinRoutes,
} from "../../src/api/auth/mod.ts";
import { startApiServer } from "../../src/api/mod.ts";
import { joinCluster, JoinError, type Node } from "../../src/kube/mod.ts";
import { openSqliteStore } from "../../src/store/mod.ts";
import {
  ensureServerPKI,
  issueCert,
  parseToken,
  type ServerPKI,
} from "../../src/tls/mod.ts";
import { Hono } from "hono";

interface Env {
  dir: string;
  url: string;
  pki: ServerPKI;
  agent: (n: string) => { dataDir: string; passwordFile: string };
}

async function withServer(fn: (env: Env) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-join-" });
  const dataDir = `${dir}/server-data`;
  const pki = await ensureServerPKI({ dataDir, hostname: "s", addresses: [] });
  const store = openSqliteStore(`${dir}/state.db`);
  const server = await startApiServer({
    store,
    authenticate: createAuthenticator({ dataDir }),
    extraRoutes: [(app) => joinRoutes(app, { dataDir })],
    cert: pki.certPem,
    key: pki.keyPem,
    port: 0,
    hostname: "127.0.0.1",
  });
  try {
    await fn({
      dir: dataDir,
      url: `https://127.0.0.1:${server.port}`,
      pki,
      agent: (n) => ({
        dataDir: `${dir}/agent-${n}`,
        passwordFile: `${dir}/agent-${n}/etc/node/password`,
      }),
    });
  } finally {
    await server.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("joinCluster() verifies the CA, gets a node credential and may write its own Node", () =>
  withServer(async (env) => {
    const a = env.agent("a");
    const joined = await joinCluster({
      server: env.url,
      token: env.pki.agentToken,
      nodeName: "node-a",
      ...a,
    });
    using client = joined.client;
    assertEquals(joined.caPem, env.pki.caPem);
    assertEquals(await Deno.readTextFile(joined.caFile), env.pki.caPem);
    assertMatch(joined.token, /^weft-node:node-a:/);
    const pw = (await Deno.readTextFile(a.passwordFile)).trim();
    assertMatch(pw, /^[0-9a-f]{32}$/);
    assertEquals((await Deno.stat(a.passwordFile)).mode! & 0o777, 0o600);
    assertEquals(
      (await Deno.stat(`${a.dataDir}/agent/cred/node-token.json`)).mode! &
        0o777,
      0o600,
    );
    const created = await client.create<Node>("/api/v1/nodes", {
      metadata: { name: "node-a" },
    });
    assertEquals(created.metadata.name, "node-a");
    const patched = await client.patch<Node>("/api/v1/nodes/node-a", {
      metadata: { labels: { x: "1" } },
    });
    assertEquals(patched.metadata.labels?.x, "1");
  }));

Deno.test("joinCluster() reuses a saved credential that still works", () =>
  withServer(async (env) => {
    const a = env.agent("a");
    const first = await joinCluster({
      server: env.url,
      token: env.pki.agentToken,
      nodeName: "node-a",
      ...a,
    });
    first.client.close();
    const again = await joinCluster({
      server: env.url,
      token: env.pki.agentToken,
      nodeName: "node-a",
      ...a,
    });
    again.client.close();
    assertEquals(again.token, first.token);
  }));

Deno.test("joinCluster() obtains a fresh credential once the old one is revoked", () =>
  withServer(async (env) => {
    const a = env.agent("a");
    const first = await joinCluster({
      server: env.url,
      token: env.pki.agentToken,
      nodeName: "node-a",
      ...a,
    });
    first.client.close();
    await forgetNode(env.dir, "node-a");
    const again = await joinCluster({
      server: env.url,
      token: env.pki.agentToken,
      nodeName: "node-a",
      ...a,
    });
    using c = again.client;
    assertNotEquals(again.token, first.token);
    await c.create("/api/v1/nodes", { metadata: { name: "node-a" } });
  }));

Deno.test("joinCluster() with a wrong CA hash in the token refuses to join", () =>
  withServer(async (env) => {
    const a = env.agent("a");
    const secret = parseToken(env.pki.agentToken).password;
    const wrong = `K10${"0".repeat(64)}::node:${secret}`;
    await assertRejects(
      () =>
        joinCluster({
          server: env.url,
          token: wrong,
          nodeName: "node-a",
          ...a,
        }),
      JoinError,
      "token CA hash does not match",
    );
    const exists = await Deno.stat(a.passwordFile).then(
      () => true,
      () => false,
    );
    assertEquals(exists, false);
  }));

Deno.test("joinCluster() with a wrong secret is told the join token was rejected", () =>
  withServer(async (env) => {
    const bad = `K10${env.pki.caHash}::node:not-the-secret`;
    await assertRejects(
      () =>
        joinCluster({
          server: env.url,
          token: bad,
          nodeName: "node-a",
          ...env.agent("a"),
        }),
      JoinError,
      "rejected the join token",
    );
  }));

Deno.test("a second machine joining under a taken name gets the node-password error", () =>
  withServer(async (env) => {
    const first = await joinCluster({
      server: env.url,
      token: env.pki.agentToken,
      nodeName: "edge",
      ...env.agent("a"),
    });
    first.client.close();
    const e = await assertRejects(
      () =>
        joinCluster({
          server: env.url,
          token: env.pki.agentToken,
          nodeName: "edge",
          ...env.agent("b"),
        }),
      JoinError,
      "Node password rejected",
    );
    assert(e.message.includes("kubectl delete node edge"));
    await forgetNode(env.dir, "edge");
    const second = await joinCluster({
      server: env.url,
      token: env.pki.agentToken,
      nodeName: "edge",
      ...env.agent("b"),
    });
    second.client.close();
  }));

Deno.test("joinCluster() with a bare secret trusts the served CA", () =>
  withServer(async (env) => {
    const bare = parseToken(env.pki.agentToken).password;
    const joined = await joinCluster({
      server: env.url,
      token: bare,
      nodeName: "node-a",
      ...env.agent("a"),
    });
    joined.client.close();
    assertEquals(joined.caPem, env.pki.caPem);
  }));

Deno.test("joinCluster() replaces a corrupt saved credential", () =>
  withServer(async (env) => {
    const a = env.agent("a");
    await Deno.mkdir(`${a.dataDir}/agent/cred`, { recursive: true });
    await Deno.writeTextFile(
      `${a.dataDir}/agent/cred/node-token.json`,
      "{not json",
    );
    const joined = await joinCluster({
      server: env.url,
      token: env.pki.agentToken,
      nodeName: "node-a",
      ...a,
    });
    joined.client.close();
    assertMatch(joined.token, /^weft-node:node-a:/);
  }));

Deno.test("joinCluster() refuses a server URL that is not https", async () => {
  await assertRejects(
    () =>
      joinCluster({
        server: "http://127.0.0.1:6443",
        token: "x",
        nodeName: "n",
        dataDir: "/nonexistent",
      }),
    JoinError,
    "must start with https://",
  );
});

Deno.test("joinCluster() refuses a server whose certificate does not name the address used", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-join-" });
  const dataDir = `${dir}/server`;
  const pki = await ensureServerPKI({ dataDir, hostname: "s", addresses: [] });
  const leaf = await issueCert({ certPem: pki.caPem, keyPem: pki.caKeyPem }, {
    subject: { commonName: "weft" },
    sans: ["elsewhere.invalid"],
    usages: ["serverAuth"],
  });
  const app = new Hono();
  joinRoutes(app, { dataDir });
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen: () => {},
  }, app.fetch);
  try {
    await assertRejects(
      () =>
        joinCluster({
          server: `https://127.0.0.1:${server.addr.port}`,
          token: pki.agentToken,
          nodeName: "n",
          dataDir: `${dir}/agent`,
          passwordFile: `${dir}/agent/password`,
        }),
      JoinError,
      "--tls-san",
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
