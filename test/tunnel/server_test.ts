import { assert, assertEquals } from "@std/assert";
import { CONNECT_PATH, NODE_HEADER } from "../../src/tunnel/mod.ts";
import {
  ADMIN_TOKEN,
  cluster,
  node,
  nodeToken,
  startAgent,
  startNodeEndpoint,
} from "./_cluster.ts";
import { waitFor } from "./_pair.ts";

async function upgradeStatus(
  url: string,
  caPem: string,
  headers: Record<string, string>,
): Promise<number> {
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  try {
    const r = await fetch(`${url}${CONNECT_PATH}`, {
      client,
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        ...headers,
      },
    });
    await r.body?.cancel();
    return r.status;
  } finally {
    client.close();
  }
}

Deno.test("tunnel server: only a node credential opens its own session", async () => {
  await using c = await cluster({
    mode: "agent",
    nodes: [node("a", "127.0.0.2", "10.42.0.0/24")],
    nodeEndpointPort: 10250,
  });
  assertEquals(await upgradeStatus(c.url, c.caPem, {}), 401);
  assertEquals(
    await upgradeStatus(c.url, c.caPem, { Authorization: "Bearer wrong" }),
    401,
  );
  assertEquals(
    await upgradeStatus(c.url, c.caPem, {
      Authorization: `Bearer ${ADMIN_TOKEN}`,
    }),
    403,
  );
  assertEquals(
    await upgradeStatus(c.url, c.caPem, {
      Authorization: `Bearer ${nodeToken("a")}`,
      [NODE_HEADER]: "b",
    }),
    403,
  );
  // An agent holding a's credential but claiming b never gets a session.
  await using imposter = startAgent(c, "b", { token: nodeToken("a") });
  await waitFor(() => imposter.states.includes("waiting"), "a refusal");
  assertEquals([...c.tunnel.sessions.keys()], []);
  // With its own name, the same credential works.
  await using agent = startAgent(c, "a");
  await agent.ready;
  assertEquals([...c.tunnel.sessions.keys()], ["a"]);
});

Deno.test("tunnel server: a newer session of a node replaces the older", async () => {
  await using c = await cluster({
    mode: "agent",
    nodes: [node("a", "127.0.0.2", "10.42.0.0/24")],
    nodeEndpointPort: 10250,
  });
  await using first = startAgent(c, "a");
  await first.ready;
  const old = c.tunnel.sessions.get("a")!;
  await using second = startAgent(c, "a", {
    backoffMs: { min: 5000, max: 5000 },
  });
  await second.ready;
  const why = await old.done;
  assert(why.includes("replaced"), why);
  await waitFor(() => first.states.at(-1) === "waiting", "first to notice");
  assert(c.tunnel.sessions.get("a") !== old);
});

Deno.test("tunnel agent: reconnects after the server restarts", async () => {
  await using ep = await startNodeEndpoint("a");
  await using c = await cluster({
    mode: "agent",
    nodes: [node("a", "127.0.0.2", "10.42.0.0/24")],
    nodeEndpointPort: ep.port,
  });
  await using agent = startAgent(c, "a", { nodeEndpointPort: ep.port });
  await agent.ready;
  await c.stopServer();
  await waitFor(
    () => agent.states.at(-1) !== "connected",
    "the agent to notice",
  );
  await c.startServer();
  await waitFor(() => c.tunnel.sessions.has("a"), "a new session", 30_000);
  // The server registers the session as the upgrade completes; the agent
  // reports "connected" once its side has opened: wait for that too.
  await waitFor(
    () => agent.states.filter((s) => s === "connected").length >= 2,
    "the agent to report its second connection",
  );
  assertEquals(agent.states.filter((s) => s === "connected").length, 2);
  const r = await c.tunnel.nodeProxy("a", "/healthz", new Request("http://x/"));
  assertEquals(await r.text(), "ok");
});

Deno.test("tunnel server: kubectl get --raw /api/v1/nodes/<agent>/proxy/status", async () => {
  await using ep = await startNodeEndpoint("a");
  await using c = await cluster({
    mode: "agent",
    nodes: [node("a", "127.0.0.2", "10.42.0.0/24")],
    nodeEndpointPort: ep.port,
  });
  await using agent = startAgent(c, "a", { nodeEndpointPort: ep.port });
  await agent.ready;
  const kubectl = (path: string) =>
    new Deno.Command("kubectl", {
      args: ["--kubeconfig", c.kubeconfig, "get", "--raw", path],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const out = await kubectl("/api/v1/nodes/a/proxy/status");
  const err = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, err);
  assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), {
    nodeName: "a",
    backend: "vxlan",
    tunnel: "connected",
  });
  const h = await kubectl("/api/v1/nodes/a/proxy/healthz");
  assertEquals(new TextDecoder().decode(h.stdout), "ok");
  // A node without a session: 502 with the reason.
  await c.store.create(
    "/registry/nodes/b",
    JSON.stringify(node("b", "127.0.0.3", "10.42.1.0/24")),
  );
  const none = await kubectl("/api/v1/nodes/b/proxy/status");
  assert(none.code !== 0);
  const msg = new TextDecoder().decode(none.stderr);
  assert(msg.includes("no tunnel session for node b"), msg);
});

Deno.test("tunnel agent: back within 5 s of a server restart, however long the backoff grew", async () => {
  await using c = await cluster({
    mode: "agent",
    nodes: [node("a", "127.0.0.2", "10.42.0.0/24")],
    nodeEndpointPort: 10250,
  });
  // Default backoff (1 s doubling to 30 s) and probe interval (1 s).
  await using agent = startAgent(c, "a", { backoffMs: undefined });
  await agent.ready;
  await c.stopServer();
  // Three failed dials: the next backoff is ~8 s, beyond the 5 s bound.
  await waitFor(
    () => agent.states.filter((s) => s === "connecting").length >= 4,
    "three failed reconnects",
    30_000,
  );
  await c.startServer();
  await waitFor(() => c.tunnel.sessions.has("a"), "the tunnel back", 5_000);
});

Deno.test("tunnel agent: a token given as a function is read at every connect (a renewed credential is used)", async () => {
  await using ep = await startNodeEndpoint("a");
  await using c = await cluster({
    mode: "agent",
    nodes: [node("a", "127.0.0.2", "10.42.0.0/24")],
    nodeEndpointPort: ep.port,
  });
  // The first credential is rejected (revoked); the renewed one works.
  let token = "revoked-token";
  let reads = 0;
  await using agent = startAgent(c, "a", {
    nodeEndpointPort: ep.port,
    token: () => {
      reads++;
      return token;
    },
  });
  await waitFor(() => reads >= 2, "the agent to retry with the rejected token");
  assert(!c.tunnel.sessions.has("a"));
  token = nodeToken("a");
  await agent.ready;
  await waitFor(() => c.tunnel.sessions.has("a"), "the session on the server");
});
