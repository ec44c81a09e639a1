import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import { createApp, createNodeIpam, NodeIpam } from "../../src/api/mod.ts";
import { openSqliteStore } from "../../src/store/mod.ts";
import { ADMIN, node, testApi, testAuthenticate } from "./_fixture.ts";

type NodeJson = {
  metadata: { name: string };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
};

async function create(
  api: { call: (m: string, p: string, b?: unknown) => Promise<Response> },
  name: string,
  extra = {},
) {
  const res = await api.call("POST", "/api/v1/nodes", node(name, extra));
  assertEquals(res.status, 201, await res.clone().text());
  return (await res.json()) as NodeJson;
}

Deno.test("ipam assigns consecutive /24s from the cluster CIDR", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/16" });
  const a = await create(api, "a");
  const b = await create(api, "b");
  assertEquals(a.spec?.podCIDR, "10.42.0.0/24");
  assertEquals(a.spec?.podCIDRs, ["10.42.0.0/24"]);
  assertEquals(b.spec?.podCIDR, "10.42.1.0/24");
});

Deno.test("ipam dual-stack gives one IPv4 /24 and one IPv6 /64 per node", async () => {
  await using api = await testApi({
    clusterCidrs: ["10.42.0.0/16", "2001:cafe:42::/56"],
  });
  await create(api, "a");
  const b = await create(api, "b");
  assertEquals(b.spec?.podCIDRs, ["10.42.1.0/24", "2001:cafe:42:1::/64"]);
  assertEquals(b.spec?.podCIDR, "10.42.1.0/24");
});

Deno.test("ipam honours the node mask sizes", async () => {
  await using api = await testApi();
  const ipam = createNodeIpam(api.store, {
    clusterCidrs: "10.42.0.0/16",
    nodeMaskV4: 26,
  });
  const app = createApp({
    store: api.store,
    ipam,
    authenticate: testAuthenticate,
  });
  const h = { authorization: ADMIN };
  await app.request("/api/v1/nodes", {
    method: "POST",
    headers: h,
    body: JSON.stringify(node("a")),
  });
  const b = await (await app.request("/api/v1/nodes", {
    method: "POST",
    headers: h,
    body: JSON.stringify(node("b")),
  })).json();
  assertEquals(b.spec.podCIDR, "10.42.0.64/26");
});

Deno.test("ipam rejects bad cluster CIDR configuration", () => {
  using store = openSqliteStore(":memory:");
  assertThrows(
    () => new NodeIpam(store, { clusterCidrs: "10.42.0.0" }),
    RangeError,
    "invalid cluster CIDR",
  );
  assertThrows(
    () => new NodeIpam(store, { clusterCidrs: "10.42.0.0/16", nodeMaskV4: 8 }),
    RangeError,
    "does not fit",
  );
  assertThrows(
    () => new NodeIpam(store, { clusterCidrs: "10.42.0.0/16,10.43.0.0/16" }),
    RangeError,
    "at most one per family",
  );
  assertThrows(() => new NodeIpam(store, { clusterCidrs: "" }), RangeError);
});

Deno.test("a node arriving with a free podCIDR keeps it; a taken one is refused with 409", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/16" });
  const a = await create(api, "a", { spec: { podCIDR: "10.42.7.0/24" } });
  assertEquals(a.spec?.podCIDRs, ["10.42.7.0/24"]);
  const res = await api.call(
    "POST",
    "/api/v1/nodes",
    node("b", {
      spec: { podCIDR: "10.42.7.0/24", podCIDRs: ["10.42.7.0/24"] },
    }),
  );
  assertEquals(res.status, 409);
  const st = await res.json();
  assertEquals(st.reason, "Conflict");
  assertMatch(st.message, /10\.42\.7\.0\/24 is allocated to node "a"/);
  assertEquals((await create(api, "b")).spec?.podCIDR, "10.42.0.0/24");
});

Deno.test("ipam releases a deleted node's CIDR for reuse", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/16" });
  await create(api, "a");
  await create(api, "b");
  assertEquals((await api.call("DELETE", "/api/v1/nodes/a")).status, 200);
  const c = await create(api, "c");
  assertEquals(c.spec?.podCIDR, "10.42.0.0/24");
});

Deno.test("a node's podCIDR cannot be changed once set", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/16" });
  await create(api, "a");
  const res = await api.call("PATCH", "/api/v1/nodes/a", {
    spec: { podCIDR: "10.42.9.0/24", podCIDRs: ["10.42.9.0/24"] },
  }, {
    contentType: "application/merge-patch+json",
  });
  assertEquals(res.status, 422);
  assertMatch((await res.json()).message, /may not change podCIDR/);
  const put = await api.call("PUT", "/api/v1/nodes/a", {
    metadata: { name: "a" },
  });
  assertEquals((await put.json()).spec.podCIDR, "10.42.0.0/24");
});

Deno.test("an exhausted range leaves the node without a CIDR, logs why, and a freed CIDR is assigned on the next update", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/23" });
  await create(api, "a");
  await create(api, "b");
  const c = await create(api, "c");
  assertEquals(c.spec?.podCIDR, undefined);
  assert(
    api.logs.some((l) =>
      /CIDRNotAvailable: no remaining pod CIDRs in 10\.42\.0\.0\/23 for node "c"/
        .test(l)
    ),
    api.logs.join("\n"),
  );
  await api.call("DELETE", "/api/v1/nodes/a");
  const res = await api.call("PATCH", "/api/v1/nodes/c", {
    metadata: { labels: { x: "1" } },
  }, {
    contentType: "application/merge-patch+json",
  });
  assertEquals((await res.json()).spec.podCIDR, "10.42.0.0/24");
});

Deno.test("ipam reconcile gives existing nodes without a CIDR one and records the others", async () => {
  await using api = await testApi();
  await create(api, "a", { spec: { podCIDR: "10.42.3.0/24" } });
  await create(api, "b");
  const ipam = createNodeIpam(api.store, { clusterCidrs: "10.42.0.0/16" });
  const { Registry } = await import("../../src/api/registry.ts");
  await ipam.reconcile(new Registry(api.store, ipam));
  assertEquals(
    Object.fromEntries(await ipam.allocations()),
    { "10.42.0.0/24": "b", "10.42.3.0/24": "a" },
  );
  const b = await (await api.call("GET", "/api/v1/nodes/b")).json();
  assertEquals(b.spec.podCIDR, "10.42.0.0/24");
});

Deno.test("ipam never gives two nodes one CIDR with concurrent creates through two servers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-ipam-" });
  try {
    using s1 = openSqliteStore(`${dir}/state.db`);
    using s2 = openSqliteStore(`${dir}/state.db`);
    const apps = [s1, s2].map((store) =>
      createApp({
        store,
        ipam: createNodeIpam(store, { clusterCidrs: "10.42.0.0/16" }),
        authenticate: testAuthenticate,
      })
    );
    const results = await Promise.all(
      Array.from(
        { length: 60 },
        (_, i) =>
          apps[i % 2].request("/api/v1/nodes", {
            method: "POST",
            headers: { authorization: ADMIN },
            body: JSON.stringify(node(`n${i}`)),
          }),
      ),
    );
    for (const r of results) {
      assertEquals(r.status, 201, await r.clone().text());
    }
    const { items } = await (await apps[0].request("/api/v1/nodes", {
      headers: { authorization: ADMIN },
    })).json();
    const cidrs = items.map((n: NodeJson) => n.spec?.podCIDR);
    assertEquals(items.length, 60);
    assertEquals(new Set(cidrs).size, 60);
    assert(cidrs.every((c: string | undefined) => c?.startsWith("10.42.")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ipam keeps CIDRs unique across a server restart in the middle of registrations", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-ipam-restart-" });
  try {
    const open = () => {
      const store = openSqliteStore(`${dir}/state.db`);
      const ipam = createNodeIpam(store, { clusterCidrs: "10.42.0.0/16" });
      return {
        store,
        ipam,
        app: createApp({ store, ipam, authenticate: testAuthenticate }),
      };
    };
    const post = (app: ReturnType<typeof open>["app"], name: string) =>
      Promise.resolve(app.request("/api/v1/nodes", {
        method: "POST",
        headers: { authorization: ADMIN },
        body: JSON.stringify(node(name)),
      }));
    const first = open();
    const inflight = Array.from(
      { length: 40 },
      (_, i) => post(first.app, `n${i}`),
    );
    // Stop the server while those registrations are still queued.
    await Promise.all(inflight.slice(0, 10));
    first.store.close();
    const statuses = await Promise.all(
      inflight.map(async (p) => (await p).status),
    );
    assert(
      statuses.includes(201) && statuses.includes(503),
      statuses.join(","),
    );

    const second = open();
    const { Registry } = await import("../../src/api/registry.ts");
    await second.ipam.reconcile(new Registry(second.store, second.ipam));
    for (let i = 0; i < 40; i++) {
      if (statuses[i] !== 201) {
        assertEquals((await post(second.app, `n${i}`)).status, 201);
      }
    }
    const { items } = await (await second.app.request("/api/v1/nodes", {
      headers: { authorization: ADMIN },
    })).json();
    assertEquals(items.length, 40);
    const cidrs = items.map((n: NodeJson) => n.spec?.podCIDR);
    assertEquals(new Set(cidrs).size, 40);
    const alloc = await second.ipam.allocations();
    assertEquals(alloc.size, 40);
    for (const n of items as NodeJson[]) {
      assertEquals(alloc.get(n.spec!.podCIDR!), n.metadata.name);
    }
    second.store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
