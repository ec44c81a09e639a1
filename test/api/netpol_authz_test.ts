// Who may do what with networkpolicies and namespaces: a node's controller
// reads them cluster-wide (get, list, watch) and can never change them; the
// admin may do everything; another user nothing; no credentials is 401.

import { assertEquals, assertMatch } from "@std/assert";
import { ADMIN, nodeToken, testApi } from "./_fixture.ts";

const NP = "/apis/networking.k8s.io/v1";
const MERGE = "application/merge-patch+json";
const APPLY = "application/apply-patch+yaml";

type Who = "admin" | "node" | "user" | "anonymous";
const TOKENS: Record<Who, string | null> = {
  admin: ADMIN,
  node: nodeToken("edge-1"),
  user: "Bearer nobody",
  anonymous: null,
};

interface Req {
  verb: string;
  method: string;
  path: string;
  body?: unknown;
  type?: string;
  read: boolean;
}

const policy = (name: string, app = "web") => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name, namespace: "team" },
  spec: { podSelector: { matchLabels: { app } }, policyTypes: ["Ingress"] },
});

function policyRequests(): Req[] {
  const one = `${NP}/namespaces/team/networkpolicies/deny`;
  return [
    {
      verb: "list (all namespaces)",
      method: "GET",
      path: `${NP}/networkpolicies`,
      read: true,
    },
    {
      verb: "list",
      method: "GET",
      path: `${NP}/namespaces/team/networkpolicies`,
      read: true,
    },
    {
      verb: "watch (all namespaces)",
      method: "GET",
      path: `${NP}/networkpolicies?watch=1`,
      read: true,
    },
    {
      verb: "watch",
      method: "GET",
      path: `${NP}/namespaces/team/networkpolicies?watch=1`,
      read: true,
    },
    { verb: "get", method: "GET", path: one, read: true },
    {
      verb: "create",
      method: "POST",
      path: `${NP}/namespaces/team/networkpolicies`,
      body: policy("new"),
      read: false,
    },
    {
      verb: "create (dry run)",
      method: "POST",
      path: `${NP}/namespaces/team/networkpolicies?dryRun=All`,
      body: policy("dry"),
      read: false,
    },
    {
      verb: "update",
      method: "PUT",
      path: one,
      body: policy("deny", "db"),
      read: false,
    },
    {
      verb: "patch",
      method: "PATCH",
      path: one,
      body: { metadata: { labels: { x: "y" } } },
      type: MERGE,
      read: false,
    },
    {
      verb: "apply",
      method: "PATCH",
      path: `${one}?fieldManager=t`,
      body: policy("deny", "api"),
      type: APPLY,
      read: false,
    },
    { verb: "delete", method: "DELETE", path: one, read: false },
  ];
}

function namespaceRequests(): Req[] {
  const one = "/api/v1/namespaces/team";
  return [
    { verb: "list", method: "GET", path: "/api/v1/namespaces", read: true },
    {
      verb: "watch",
      method: "GET",
      path: "/api/v1/namespaces?watch=1",
      read: true,
    },
    { verb: "get", method: "GET", path: one, read: true },
    {
      verb: "create",
      method: "POST",
      path: "/api/v1/namespaces",
      body: { metadata: { name: "other" } },
      read: false,
    },
    {
      verb: "update",
      method: "PUT",
      path: one,
      body: { metadata: { name: "team", labels: { a: "b" } } },
      read: false,
    },
    {
      verb: "patch",
      method: "PATCH",
      path: one,
      body: { metadata: { labels: { a: "b" } } },
      type: MERGE,
      read: false,
    },
    {
      verb: "patch status",
      method: "PATCH",
      path: `${one}/status`,
      body: { status: { phase: "Terminating" } },
      type: MERGE,
      read: false,
    },
    { verb: "delete", method: "DELETE", path: one, read: false },
  ];
}

/** The status of one request (a watch is cancelled once it answered). */
async function statusOf(
  api: Awaited<ReturnType<typeof testApi>>,
  who: Who,
  r: Req,
): Promise<number> {
  const ac = new AbortController();
  const headers: Record<string, string> = {};
  const token = TOKENS[who];
  if (token) headers.authorization = token;
  if (r.type) headers["content-type"] = r.type;
  const res = await api.app.request(r.path, {
    method: r.method,
    headers,
    body: r.body === undefined ? undefined : JSON.stringify(r.body),
    signal: ac.signal,
  });
  const body =
    await (r.path.includes("watch=1") && res.status === 200
      ? res.body?.cancel()
      : res.text());
  if (res.status === 403) {
    assertMatch(String(body), /"reason":"Forbidden"/);
  }
  ac.abort();
  return res.status;
}

function expected(who: Who, r: Req): number {
  if (who === "anonymous") return 401;
  if (who === "user") return 403;
  if (who === "node") return r.read ? 200 : 403;
  return r.method === "POST" ? 201 : 200;
}

/** A fresh API with namespace team and policy team/deny, per request (the
 * admin's writes change what the next request finds). */
async function setup() {
  const api = await testApi();
  assertEquals(
    (await api.call("POST", "/api/v1/namespaces", {
      metadata: { name: "team" },
    })).status,
    201,
  );
  assertEquals(
    (await api.call(
      "POST",
      `${NP}/namespaces/team/networkpolicies`,
      policy("deny"),
    ))
      .status,
    201,
  );
  return api;
}

for (
  const [what, requests] of [
    ["networkpolicies", policyRequests],
    ["namespaces", namespaceRequests],
  ] as const
) {
  Deno.test(`authz matrix for ${what}: nodes read cluster-wide, only the admin writes`, async () => {
    const got: string[] = [];
    const want: string[] = [];
    for (const who of ["admin", "node", "user", "anonymous"] as const) {
      for (const r of requests()) {
        await using api = await setup();
        got.push(`${who} ${r.verb}: ${await statusOf(api, who, r)}`);
        want.push(`${who} ${r.verb}: ${expected(who, r)}`);
      }
    }
    assertEquals(got, want);
  });
}

Deno.test("a node's refused writes change nothing, and name why", async () => {
  await using api = await setup();
  const before = await (await api.call(
    "GET",
    `${NP}/namespaces/team/networkpolicies/deny`,
  )).json();
  const t = { token: nodeToken("edge-1") };
  const res = await api.call(
    "PATCH",
    `${NP}/namespaces/team/networkpolicies/deny`,
    { spec: { podSelector: {} } },
    { ...t, contentType: MERGE },
  );
  assertEquals(res.status, 403);
  assertMatch(
    (await res.json()).message,
    /User "system:node:edge-1" cannot patch resource "networkpolicies" in API group "networking\.k8s\.io" in the namespace "team": nodes may only read networkpolicies/,
  );
  const del = await api.call(
    "DELETE",
    `${NP}/namespaces/team/networkpolicies/deny`,
    undefined,
    t,
  );
  assertMatch((await del.json()).message, /may not delete networkpolicies/);
  const after = await (await api.call(
    "GET",
    `${NP}/namespaces/team/networkpolicies/deny`,
  )).json();
  assertEquals(after, before);
  const nsDel = await api.call(
    "DELETE",
    "/api/v1/namespaces/team",
    undefined,
    t,
  );
  assertEquals(nsDel.status, 403);
  assertEquals(
    (await api.call("GET", "/api/v1/namespaces/team")).status,
    200,
  );
});
