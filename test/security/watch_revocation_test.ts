// Finding 9 (low), first half: a watch opened before its credential was
// revoked kept receiving events. Now revoking a node credential — `weft
// token forget-node` (here or from another process), deleting the Node, a
// new token issued at re-join — ends the watches and the tunnel session
// opened with it.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  createAuthenticator,
  ensureAdminToken,
  forgetNode,
  nodeCredentials,
  runNodeCredentialJanitor,
} from "../../src/api/auth/mod.ts";
import { type ApiServer, startApiServer } from "../../src/api/mod.ts";
import { openSqliteStore, type Store } from "../../src/store/mod.ts";
import { ensureServerPKI } from "../../src/tls/mod.ts";
import {
  runTunnelAgent,
  type TunnelServer,
  tunnelServer,
} from "../../src/tunnel/mod.ts";
import { runWeft } from "../harness/weft.ts";

interface Server extends AsyncDisposable {
  dir: string;
  url: string;
  caPem: string;
  admin: string;
  store: Store;
  api: ApiServer;
  tunnel: TunnelServer;
  client: Deno.HttpClient;
  logs: string[];
}

/** The API with the real authenticator, the credential janitor and the
 * tunnel server, as `weft server` wires them. */
async function server(): Promise<Server> {
  const dir = await Deno.makeTempDir({ prefix: "weft-sec-revoke-" });
  const pki = await ensureServerPKI({
    dataDir: dir,
    addresses: ["127.0.0.1"],
    hostname: "localhost",
  });
  const admin = await ensureAdminToken(dir);
  const authenticate = createAuthenticator({ dataDir: dir, recheckMs: 50 });
  const store = openSqliteStore(`${dir}/state.db`);
  const logs: string[] = [];
  const tunnel = tunnelServer({
    authenticate,
    mode: "agent",
    listNodes: () => Promise.resolve([]),
    log: (m) => logs.push(m),
  });
  const api = await startApiServer({
    store,
    authenticate,
    cert: pki.certPem,
    key: pki.keyPem,
    port: 0,
    hostname: "127.0.0.1",
    upgrade: tunnel,
  });
  const janitor = new AbortController();
  const ready = Promise.withResolvers<void>();
  const janitorDone = runNodeCredentialJanitor(
    { dataDir: dir, store, sweepMs: 50 },
    {
      signal: janitor.signal,
      ready: () => ready.resolve(),
      log: (m) => logs.push(m),
    },
  );
  await ready.promise;
  const client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  return {
    dir,
    url: `https://127.0.0.1:${api.port}`,
    caPem: pki.caPem,
    admin,
    store,
    api,
    tunnel,
    client,
    logs,
    async [Symbol.asyncDispose]() {
      client.close();
      tunnel.close();
      janitor.abort();
      await janitorDone;
      await api.close();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function createNode(s: Server, name: string): Promise<void> {
  const res = await fetch(`${s.url}/api/v1/nodes`, {
    client: s.client,
    method: "POST",
    headers: { authorization: `Bearer ${s.admin}` },
    body: JSON.stringify({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name },
    }),
  });
  assertEquals(res.status, 201, await res.text());
}

/** Opens a watch on nodes with `token`; `ended` resolves with everything
 * the stream carried once the server ends it (bounded: rejects after 20 s). */
async function openWatch(s: Server, token: string) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 20_000);
  const res = await fetch(`${s.url}/api/v1/nodes?watch=1`, {
    client: s.client,
    headers: { authorization: `Bearer ${token}` },
    signal: ac.signal,
  });
  assertEquals(res.status, 200);
  const ended = res.text().finally(() => clearTimeout(timer));
  return { ended, cancel: () => ac.abort() };
}

const PASSWORD = "p".repeat(32);

Deno.test("finding 9: forget-node ends the node's open watch", async () => {
  await using s = await server();
  await createNode(s, "n1");
  const token = await nodeCredentials(s.dir).issue("n1", PASSWORD);
  const w = await openWatch(s, token);
  assert(await forgetNode(s.dir, "n1"));
  assertStringIncludes(await w.ended, '"n1"');
  // The credential no longer opens one.
  const res = await fetch(`${s.url}/api/v1/nodes?watch=1`, {
    client: s.client,
    headers: { authorization: `Bearer ${token}` },
  });
  assertEquals(res.status, 401);
  await res.body?.cancel();
});

Deno.test("finding 9: deleting the Node ends the watches of its credential, not others'", async () => {
  await using s = await server();
  await createNode(s, "n1");
  await createNode(s, "n2");
  const creds = nodeCredentials(s.dir);
  const t1 = await creds.issue("n1", PASSWORD);
  const t2 = await creds.issue("n2", PASSWORD);
  const w1 = await openWatch(s, t1);
  const w2 = await openWatch(s, t2);
  const res = await fetch(`${s.url}/api/v1/nodes/n1`, {
    client: s.client,
    method: "DELETE",
    headers: { authorization: `Bearer ${s.admin}` },
  });
  assertEquals(res.status, 200);
  await res.body?.cancel();
  const text = await w1.ended;
  assertStringIncludes(text, '"DELETED"');
  // n2's watch is still open: it sees a new node.
  await createNode(s, "n3");
  const more = await Promise.race([
    w2.ended.then(() => "ended"),
    new Promise((r) => setTimeout(() => r("open"), 500)),
  ]);
  assertEquals(more, "open");
  w2.cancel();
  await w2.ended.catch(() => {});
});

Deno.test("finding 9: a new token issued at re-join ends the watches of the old one", async () => {
  await using s = await server();
  const creds = nodeCredentials(s.dir);
  const old = await creds.issue("n1", PASSWORD);
  const w = await openWatch(s, old);
  await creds.issue("n1", PASSWORD);
  assertEquals(await w.ended, "");
});

Deno.test("finding 9: `weft token forget-node` in another process ends the node's watch", async () => {
  await using s = await server();
  const token = await nodeCredentials(s.dir).issue("n1", PASSWORD);
  const w = await openWatch(s, token);
  const r = await runWeft(["token", "forget-node", "n1", "--data-dir", s.dir]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(await w.ended, "");
});

Deno.test("finding 9: revoking a node's credential closes its tunnel session", async () => {
  await using s = await server();
  const token = await nodeCredentials(s.dir).issue("n1", PASSWORD);
  const ac = new AbortController();
  const up = Promise.withResolvers<void>();
  const agent = runTunnelAgent({
    servers: [s.url],
    caPem: s.caPem,
    token,
    nodeName: "n1",
    mode: "agent",
    podCIDRs: [],
    clusterCIDRs: [],
    nodeIPs: [],
    backoffMs: { min: 60_000, max: 60_000 },
  }, { signal: ac.signal, ready: () => up.resolve(), log: () => {} });
  agent.catch((e) => up.reject(e));
  try {
    await up.promise;
    const session = s.tunnel.sessions.get("n1");
    if (!session) throw new Error("no session for n1");
    assert(await forgetNode(s.dir, "n1"));
    assertStringIncludes(await session.done, "revoked");
    assertEquals(s.tunnel.sessions.has("n1"), false);
  } finally {
    ac.abort();
    await agent.catch(() => {});
  }
});
