// Issue 11 row 1: a node (anyone holding the agent join token can become
// one) could create itself with any spec.podCIDR — inside another node's
// subnet, the whole cluster CIDR, 0.0.0.0/0, the underlay — and honest
// agents would route to it. The server now refuses any pod CIDR that is not
// one free node subnet of the cluster CIDR, for nodes and admins alike.

import { assertEquals, assertMatch } from "@std/assert";
import { createNodeIpam } from "../../src/api/mod.ts";
import { node, nodeToken, testApi } from "../api/_fixture.ts";

type Api = Awaited<ReturnType<typeof testApi>>;

/** The reservations in the store: pod CIDR -> node. */
async function reserved(api: Api): Promise<Record<string, string>> {
  const ipam = createNodeIpam(api.store, { clusterCidrs: "10.42.0.0/16" });
  return Object.fromEntries(await ipam.allocations());
}

async function post(api: Api, name: string, spec: unknown, token?: string) {
  const res = await api.call("POST", "/api/v1/nodes", node(name, { spec }), {
    token: token ?? nodeToken(name),
  });
  return { status: res.status, body: await res.json() };
}

async function patch(api: Api, name: string, spec: unknown, token?: string) {
  const res = await api.call("PATCH", `/api/v1/nodes/${name}`, { spec }, {
    token: token ?? nodeToken(name),
    contentType: "application/merge-patch+json",
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("security row 1: a node cannot create itself with a pod CIDR outside its node subnet (422)", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/16" });
  const victim = await post(api, "victim", {});
  assertEquals(victim.body.spec.podCIDR, "10.42.0.0/24");
  const bad = [
    "10.42.0.0/25", // inside the victim's /24
    "10.42.0.128/25",
    "10.42.0.0/16", // the whole cluster CIDR
    "0.0.0.0/0",
    "192.168.1.0/24", // an underlay subnet
    "10.42.7.5/24", // host bits set
    "10.43.0.0/24", // next to the cluster CIDR
    "fd00::/64", // no IPv6 cluster CIDR
    "not-a-cidr",
  ];
  for (const cidr of bad) {
    for (const spec of [{ podCIDR: cidr }, { podCIDRs: [cidr] }]) {
      const r = await post(api, "rogue", spec);
      assertEquals(r.status, 422, `${JSON.stringify(spec)}: ${r.body.message}`);
      assertEquals(r.body.kind, "Status");
      assertEquals(r.body.reason, "Invalid");
      assertMatch(r.body.message, /podCIDR/);
    }
  }
  assertEquals(
    await reserved(api),
    { "10.42.0.0/24": "victim" },
  );
  assertEquals(
    (await api.call("GET", "/api/v1/nodes/rogue")).status,
    404,
    "no rogue node was stored",
  );
});

Deno.test("security row 1: a node cannot take another node's pod CIDR (409), admins neither", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/16" });
  await post(api, "victim", {});
  for (const token of [undefined, "Bearer admin-token"]) {
    const r = await post(api, "rogue", { podCIDR: "10.42.0.0/24" }, token);
    assertEquals(r.status, 409, r.body.message);
    assertEquals(r.body.reason, "Conflict");
    assertMatch(r.body.message, /allocated to node "victim"/);
  }
  const admin = await post(
    api,
    "rogue",
    { podCIDR: "0.0.0.0/0" },
    "Bearer admin-token",
  );
  assertEquals(admin.status, 422);
});

Deno.test("security row 1: malformed podCIDR fields are refused (422)", async () => {
  await using api = await testApi({
    clusterCidrs: ["10.42.0.0/16", "fd42::/56"],
  });
  const bad: unknown[] = [
    { podCIDR: 7 },
    { podCIDRs: "10.42.5.0/24" },
    { podCIDRs: ["10.42.5.0/24", 5] },
    { podCIDR: "10.42.5.0/24", podCIDRs: ["10.42.6.0/24"] },
    { podCIDRs: ["10.42.5.0/24", "10.42.6.0/24"] },
    { podCIDRs: ["10.42.5.0/24", "fd42:0:0:5::/64", "fd42:0:0:6::/64"] },
  ];
  for (const spec of bad) {
    const r = await post(api, "n", spec);
    assertEquals(r.status, 422, `${JSON.stringify(spec)}: ${r.body.message}`);
  }
});

Deno.test("security row 1: a free node subnet a node asks for is granted and reserved in the same write", async () => {
  await using api = await testApi({
    clusterCidrs: ["10.42.0.0/16", "fd42::/56"],
  });
  const r = await post(api, "a", {
    podCIDR: "10.42.9.0/24",
    podCIDRs: ["10.42.9.0/24", "fd42:0:0:9::/64"],
  });
  assertEquals(r.status, 201, r.body.message);
  assertEquals(r.body.spec.podCIDRs, ["10.42.9.0/24", "fd42:0:0:9::/64"]);
  assertEquals(
    await reserved(api),
    { "10.42.9.0/24": "a", "fd42:0:0:9::/64": "a" },
  );
  // Only IPv4 asked: the IPv6 subnet is assigned.
  const b = await post(api, "b", { podCIDR: "10.42.3.0/24" });
  assertEquals(b.body.spec.podCIDRs, ["10.42.3.0/24", "fd42::/64"]);
});

Deno.test("security row 1: podCIDRs cannot change once set, also through podCIDR alone (422)", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/16" });
  await post(api, "a", {});
  for (
    const spec of [
      { podCIDR: "0.0.0.0/0" },
      { podCIDR: "10.42.5.0/24" },
      { podCIDRs: ["10.42.5.0/24"] },
      { podCIDR: "10.42.0.0/24", podCIDRs: ["10.42.0.0/24", "fd00::/64"] },
    ]
  ) {
    const r = await patch(api, "a", spec);
    assertEquals(r.status, 422, `${JSON.stringify(spec)}: ${r.body.message}`);
    const admin = await patch(api, "a", spec, "Bearer admin-token");
    assertEquals(admin.status, 422);
  }
  const same = await patch(api, "a", { podCIDR: "10.42.0.0/24" });
  assertEquals(same.status, 200);
  assertEquals(same.body.spec.podCIDRs, ["10.42.0.0/24"]);
  const removed = await api.call("PATCH", "/api/v1/nodes/a", [
    { op: "remove", path: "/spec/podCIDR" },
    { op: "remove", path: "/spec/podCIDRs" },
  ], {
    token: nodeToken("a"),
    contentType: "application/json-patch+json",
  });
  assertEquals(removed.status, 200);
  const got = await (await api.call("GET", "/api/v1/nodes/a")).json();
  assertEquals(got.spec.podCIDR, "10.42.0.0/24");
  assertEquals(got.spec.podCIDRs, ["10.42.0.0/24"]);
});

Deno.test("security row 1: a node without a pod CIDR may set a free one, not a taken one", async () => {
  await using api = await testApi({ clusterCidrs: "10.42.0.0/23" });
  await post(api, "a", {});
  await post(api, "b", {});
  const c = await post(api, "c", {});
  assertEquals(c.body.spec?.podCIDR, undefined, "the range is exhausted");
  assertEquals((await api.call("DELETE", "/api/v1/nodes/a")).status, 200);
  const taken = await patch(api, "c", { podCIDR: "10.42.1.0/24" });
  assertEquals(taken.status, 409, taken.body.message);
  const outside = await patch(api, "c", { podCIDR: "10.42.2.0/24" });
  assertEquals(outside.status, 422, outside.body.message);
  const free = await patch(api, "c", { podCIDR: "10.42.0.0/24" });
  assertEquals(free.status, 200, free.body.message);
  assertEquals(
    await reserved(api),
    { "10.42.0.0/24": "c", "10.42.1.0/24": "b" },
  );
});

Deno.test("security row 1: at start the server names a node stored with a pod CIDR it would now refuse", async () => {
  await using api = await testApi(); // no IPAM: stores what it is sent
  await post(api, "rogue", { podCIDR: "0.0.0.0/0" });
  const logs: string[] = [];
  const ipam = createNodeIpam(api.store, {
    clusterCidrs: "10.42.0.0/16",
    log: (m) => logs.push(m),
  });
  const { Registry } = await import("../../src/api/registry.ts");
  await ipam.reconcile(new Registry(api.store, ipam));
  assertEquals(await reserved(api), {});
  assertEquals(
    logs.filter((l) => /node rogue has pod CIDR 0\.0\.0\.0\/0/.test(l)).length,
    1,
    logs.join("\n"),
  );
});
