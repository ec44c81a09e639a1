// The CONNECT proxy by egress selector mode, driven with curl. Loopback
// addresses stand in for node and pod IPs: node a is 127.0.0.2 with pod CIDR
// 127.10.0.0/24; Pod objects on a have 127.20.0.5 and 127.30.0.5; node b
// (127.0.0.3, pod CIDR 127.11.0.0/24) has no agent. The node endpoint binds
// 127.0.0.1 only, so reaching it as 127.0.0.2 proves the tunnel was used;
// the server's direct dials are recorded.

import { assert, assertEquals } from "@std/assert";
import type { EgressMode } from "../../src/tunnel/mod.ts";
import {
  cluster,
  curlVia,
  EGRESS,
  node,
  nodeToken,
  pod,
  podServer,
  rawConnect,
  startAgent,
  startNodeEndpoint,
} from "./_cluster.ts";

async function setup(mode: EgressMode) {
  const ep = await startNodeEndpoint("a");
  const pods = ["127.10.0.5", "127.20.0.5", "127.30.0.5"].map(podServer);
  const c = await cluster({
    mode,
    nodeEndpointPort: ep.port,
    nodes: [
      node("a", "127.0.0.2", "127.10.0.0/24", EGRESS),
      node("b", "127.0.0.3", "127.11.0.0/24", EGRESS),
    ],
    pods: [pod("p2", "a", "127.20.0.5"), pod("p3", "a", "127.30.0.5")],
  });
  const agent = startAgent(c, "a", {
    mode,
    nodeEndpointPort: ep.port,
    nodeIPs: ["127.0.0.2"],
    podCIDRs: ["127.10.0.0/24"],
    clusterCIDRs: ["127.10.0.0/16", "127.20.0.0/16"],
  });
  await agent.ready;
  return {
    c,
    ep,
    pod: (i: number) =>
      `http://${["127.10.0.5", "127.20.0.5", "127.30.0.5"][i]}:${
        pods[i].port
      }/`,
    async [Symbol.asyncDispose]() {
      await agent[Symbol.asyncDispose]();
      await c[Symbol.asyncDispose]();
      for (const p of pods) await p[Symbol.asyncDispose]();
      await ep[Symbol.asyncDispose]();
    },
  };
}

/** curl through the proxy: the body, and whether the server dialled it. */
async function via(t: Awaited<ReturnType<typeof setup>>, url: string) {
  const before = t.c.direct.length;
  const r = await curlVia(t.c, url);
  assertEquals(r.code, 0, `${url}: ${r.err}`);
  return { body: r.body, direct: t.c.direct.length > before };
}

Deno.test("CONNECT: admins only", async () => {
  await using t = await setup("agent");
  assertEquals((await rawConnect(t.c, "127.0.0.2:1", null)).status, 401);
  assertEquals(
    (await rawConnect(t.c, "127.0.0.2:1", nodeToken("a"))).status,
    403,
  );
  const r = await curlVia(t.c, t.pod(0), nodeToken("a"));
  assert(r.code !== 0 && r.err.includes("403"), r.err);
  assertEquals((await rawConnect(t.c, "no-port")).status, 400);
});

Deno.test("CONNECT agent mode: node endpoint through the tunnel, pods direct", async () => {
  await using t = await setup("agent");
  const byName = await via(t, `http://a:${t.ep.port}/status`);
  assertEquals(JSON.parse(byName.body).nodeName, "a");
  assertEquals(byName.direct, false);
  const byIP = await via(t, `http://127.0.0.2:${t.ep.port}/healthz`);
  assertEquals(byIP, { body: "ok", direct: false });
  assertEquals(await via(t, t.pod(0)), {
    body: "pod 127.10.0.5",
    direct: true,
  });
});

Deno.test("CONNECT pod mode: pod CIDRs of labelled nodes through the tunnel", async () => {
  await using t = await setup("pod");
  assertEquals(await via(t, t.pod(0)), {
    body: "pod 127.10.0.5",
    direct: false,
  });
  // Pod objects are not consulted in pod mode: outside any pod CIDR is direct.
  assertEquals(await via(t, t.pod(1)), {
    body: "pod 127.20.0.5",
    direct: true,
  });
  assertEquals(
    (await via(t, `http://127.0.0.2:${t.ep.port}/healthz`)).direct,
    false,
  );
  const none = await rawConnect(t.c, "127.11.0.9:80");
  assertEquals(none.status, 502);
  assert(none.body.includes("no tunnel session for node b"), none.body);
  // Pod mode lets the agent dial its node IPs (host-network pods); a failed
  // dial is a 502 with the reason and the session carries on.
  const refused = await rawConnect(t.c, "a:1");
  assertEquals(refused.status, 502);
  assert(refused.body.includes("dial 127.0.0.2:1"), refused.body);
  assertEquals(await via(t, t.pod(0)), {
    body: "pod 127.10.0.5",
    direct: false,
  });
});

Deno.test("CONNECT cluster mode: Pod objects route through their node", async () => {
  await using t = await setup("cluster");
  assertEquals(await via(t, t.pod(0)), {
    body: "pod 127.10.0.5",
    direct: false,
  });
  assertEquals(await via(t, t.pod(1)), {
    body: "pod 127.20.0.5",
    direct: false,
  });
  // 127.30.0.5 is a pod of a, outside the agent's cluster CIDRs: refused.
  const refused = await rawConnect(t.c, `127.30.0.5:${new URL(t.pod(2)).port}`);
  assertEquals(refused.status, 502);
  assert(
    refused.body.includes("denied by the cluster mode authorizer"),
    refused.body,
  );
  const r = await curlVia(t.c, t.pod(2));
  assert(r.code !== 0 && r.err.includes("502"), r.err);
});

Deno.test("CONNECT disabled mode: everything is dialled directly", async () => {
  await using t = await setup("disabled");
  assertEquals(await via(t, t.pod(1)), {
    body: "pod 127.20.0.5",
    direct: true,
  });
  // The node endpoint listens on 127.0.0.1 only: direct to 127.0.0.2 fails.
  const r = await rawConnect(t.c, `127.0.0.2:${t.ep.port}`);
  assertEquals(r.status, 502);
  assert(t.c.direct.includes(`127.0.0.2:${t.ep.port}`));
});

Deno.test("CONNECT: a half-close is passed on to a directly dialled target", async () => {
  // The server answers what it read, once the client has finished writing.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    for await (const c of l) {
      (async () => {
        let n = 0;
        const b = new Uint8Array(65536);
        for (let r = await c.read(b); r !== null; r = await c.read(b)) n += r;
        await c.write(new TextEncoder().encode(`got ${n}`));
        c.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  const port = (l.addr as Deno.NetAddr).port;
  await using t = await setup("agent");
  try {
    for (const target of [`127.0.0.1:${port}`]) {
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: t.c.port,
        caCerts: [t.c.caPem],
      });
      await conn.write(new TextEncoder().encode(
        `CONNECT ${target} HTTP/1.1\r\nAuthorization: Bearer admin-token\r\n\r\n`,
      ));
      const head = new Uint8Array(1024);
      const n = (await conn.read(head))!;
      assert(
        new TextDecoder().decode(head.subarray(0, n)).startsWith(
          "HTTP/1.1 200",
        ),
      );
      const body = new Uint8Array(100_000);
      for (let off = 0; off < body.length;) {
        off += await conn.write(body.subarray(off));
      }
      await conn.closeWrite();
      let text = "";
      for (
        let r = await conn.read(head);
        r !== null;
        r = await conn.read(head).catch(() => null)
      ) {
        text += new TextDecoder().decode(head.subarray(0, r));
      }
      conn.close();
      assertEquals(text, "got 100000");
    }
  } finally {
    l.close();
    await served;
  }
});
