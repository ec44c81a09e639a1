import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import { forgetNode, joinRoutes } from "../../src/api/auth/mod.ts";
import {
  joinCluster,
  JoinError,
  type JoinResult,
  type Node,
} from "../../src/kube/mod.ts";
import {
  ensureServerPKI,
  issueCert,
  parseToken,
  type ServerPKI,
} from "../../src/tls/mod.ts";
import { Hono } from "hono";
import { withWeftServer } from "./_weft_server.ts";

interface Env {
  /** The server's data dir. */
  dir: string;
  url: string;
  pki: ServerPKI;
  /** The data dir and password file of agent machine `n`. */
  agent: (n: string) => { dataDir: string; passwordFile: string };
  /** Joins as `nodeName` from machine `machine` with `token` (the agent token). */
  join: (
    nodeName: string,
    machine?: string,
    token?: string,
  ) => Promise<JoinResult>;
}

function withServer(fn: (env: Env) => Promise<void>): Promise<void> {
  return withWeftServer("weft-join-", async (s) => {
    const agent = (n: string) => ({
      dataDir: `${s.dir}/agent-${n}`,
      passwordFile: `${s.dir}/agent-${n}/etc/node/password`,
    });
    await fn({
      dir: s.dataDir,
      url: s.url,
      pki: s.pki,
      agent,
      join: (nodeName, machine = "a", token = s.pki.agentToken) =>
        joinCluster({ server: s.url, token, nodeName, ...agent(machine) }),
    });
  });
}

Deno.test("joinCluster() verifies the CA, gets a node credential and may write its own Node", () =>
  withServer(async (env) => {
    const a = env.agent("a");
    const joined = await env.join("node-a");
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
    const first = await env.join("node-a");
    first.client.close();
    const again = await env.join("node-a");
    again.client.close();
    assertEquals(again.token, first.token);
  }));

Deno.test("joinCluster() obtains a fresh credential once the old one is revoked", () =>
  withServer(async (env) => {
    const first = await env.join("node-a");
    first.client.close();
    await forgetNode(env.dir, "node-a");
    const again = await env.join("node-a");
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
      () => env.join("node-a", "a", wrong),
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
      () => env.join("node-a", "a", bad),
      JoinError,
      "rejected the join token",
    );
  }));

Deno.test("a second machine joining under a taken name gets the node-password error", () =>
  withServer(async (env) => {
    const first = await env.join("edge");
    first.client.close();
    const e = await assertRejects(
      () => env.join("edge", "b"),
      JoinError,
      "Node password rejected",
    );
    assert(e.message.includes("kubectl delete node edge"));
    await forgetNode(env.dir, "edge");
    const second = await env.join("edge", "b");
    second.client.close();
  }));

Deno.test("joinCluster() with a bare secret trusts the served CA", () =>
  withServer(async (env) => {
    const bare = parseToken(env.pki.agentToken).password;
    const joined = await env.join("node-a", "a", bare);
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
    const joined = await env.join("node-a");
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
