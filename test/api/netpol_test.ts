// networking.k8s.io/v1 NetworkPolicy as one row of the resource table:
// the verbs, validation as kube-apiserver answers it (422 Invalid with a
// cause per field), discovery, OpenAPI, the table columns, and the module
// graph (the API loads the validator, never the nft controller).

import { assert, assertEquals, assertMatch } from "@std/assert";
import { formatSelector } from "../../src/api/kinds/networkpolicy.ts";
import { MAX_LIST } from "../../src/netpol/validate.ts";
import { readEvents, testApi } from "./_fixture.ts";

const BASE = "/apis/networking.k8s.io/v1";
const MERGE = "application/merge-patch+json";
const TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io";

function policy(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name },
    spec: { podSelector: {}, policyTypes: ["Ingress"], ...spec },
  };
}

const allowFrom = policy("allow-web", {
  podSelector: { matchLabels: { app: "web" } },
  ingress: [{
    from: [{ podSelector: { matchLabels: { role: "client" } } }],
    ports: [{ protocol: "TCP", port: 80 }],
  }],
});

async function withNamespace(name: string) {
  const api = await testApi();
  const r = await api.call("POST", "/api/v1/namespaces", {
    metadata: { name },
  });
  assertEquals(r.status, 201);
  return api;
}

interface Cause {
  reason: string;
  field: string;
  message: string;
}

Deno.test("networkpolicies: create, get, list, watch, update, patch, delete", async () => {
  await using api = await withNamespace("team");
  const url = `${BASE}/namespaces/team/networkpolicies`;
  const created = await api.call("POST", url, allowFrom);
  assertEquals(created.status, 201);
  const p = await created.json();
  assertEquals([p.apiVersion, p.kind], [
    "networking.k8s.io/v1",
    "NetworkPolicy",
  ]);
  assertEquals([p.metadata.namespace, p.metadata.generation], ["team", 1]);
  assertEquals(p.spec, allowFrom.spec);

  const got = await (await api.call("GET", `${url}/allow-web`)).json();
  assertEquals(got.metadata.uid, p.metadata.uid);
  const listed = await (await api.call("GET", url)).json();
  assertEquals(listed.kind, "NetworkPolicyList");
  assertEquals(listed.apiVersion, "networking.k8s.io/v1");
  assertEquals(listed.items.length, 1);
  // Cluster-wide, as the agents' controllers list them.
  const all = await (await api.call("GET", `${BASE}/networkpolicies`)).json();
  assertEquals(all.items[0].metadata.name, "allow-web");
  assertEquals(
    (await (await api.call("GET", `${BASE}/namespaces/default/networkpolicies`))
      .json()).items,
    [],
  );

  const ac = new AbortController();
  const w = await fetchWatch(
    api,
    `${BASE}/networkpolicies?watch=1&resourceVersion=${p.metadata.resourceVersion}`,
    ac.signal,
  );

  const put = await api.call("PUT", `${url}/allow-web`, {
    ...got,
    spec: { ...got.spec, policyTypes: ["Ingress", "Egress"] },
  });
  assertEquals(put.status, 200);
  assertEquals((await put.json()).metadata.generation, 2);
  const patched = await api.call("PATCH", `${url}/allow-web`, {
    metadata: { labels: { tier: "edge" } },
    spec: { podSelector: { matchLabels: { app: "api" } } },
  }, { contentType: MERGE });
  assertEquals(patched.status, 200);
  const pp = await patched.json();
  assertEquals(pp.spec.podSelector, { matchLabels: { app: "api" } });
  assertEquals(pp.metadata.labels, { tier: "edge" });
  assertEquals(pp.metadata.generation, 3);

  const del = await api.call("DELETE", `${url}/allow-web`);
  assertEquals(del.status, 200);
  assertEquals((await del.json()).status, "Success");
  assertEquals((await api.call("GET", `${url}/allow-web`)).status, 404);

  const { reader, events } = await readEvents(w, 3);
  assertEquals(events.map((e) => e.type), ["MODIFIED", "MODIFIED", "DELETED"]);
  assertEquals(events[0].object.kind, "NetworkPolicy");
  ac.abort();
  await reader.cancel().catch(() => {});
});

function fetchWatch(
  api: Awaited<ReturnType<typeof testApi>>,
  path: string,
  signal: AbortSignal,
): Promise<Response> {
  return Promise.resolve(api.app.request(path, {
    headers: { authorization: "Bearer admin-token" },
    signal,
  }));
}

Deno.test("defaults as kube-apiserver: policyTypes from the rules, port protocol TCP", async () => {
  await using api = await withNamespace("team");
  const url = `${BASE}/namespaces/team/networkpolicies`;
  const bare = (name: string, spec: Record<string, unknown>) => ({
    metadata: { name },
    spec: { podSelector: {}, ...spec },
  });
  const created = async (name: string, spec: Record<string, unknown>) => {
    const r = await api.call("POST", url, bare(name, spec));
    assertEquals(r.status, 201);
    return (await r.json()).spec;
  };
  assertEquals((await created("a", {})).policyTypes, ["Ingress"]);
  const eg = await created("b", {
    egress: [{ ports: [{ port: 53, protocol: "UDP" }, { port: 443 }] }],
  });
  assertEquals(eg.policyTypes, ["Ingress", "Egress"]);
  assertEquals(eg.egress[0].ports, [
    { port: 53, protocol: "UDP" },
    { port: 443, protocol: "TCP" },
  ]);
  // Given policyTypes are kept; an empty egress list adds nothing.
  assertEquals(
    (await created("c", { policyTypes: ["Egress"] })).policyTypes,
    ["Egress"],
  );
  assertEquals(
    (await created("d", { egress: [], policyTypes: [] })).policyTypes,
    ["Ingress"],
  );
});

Deno.test("networkpolicies in a missing namespace are 404 for the namespace", async () => {
  await using api = await testApi();
  const r = await api.call(
    "POST",
    `${BASE}/namespaces/nope/networkpolicies`,
    allowFrom,
  );
  assertEquals(r.status, 404);
  assertMatch((await r.json()).message, /namespaces "nope" not found/);
});

Deno.test("an invalid policy is 422 Invalid with a cause per field, as kube-apiserver answers", async () => {
  await using api = await withNamespace("team");
  const url = `${BASE}/namespaces/team/networkpolicies`;
  const bad = policy("bad", {
    ingress: [{
      from: [
        { ipBlock: { cidr: "10.0.0.0/33" } },
        {
          podSelector: {
            matchExpressions: [{ key: "app", operator: "Near" }],
          },
        },
      ],
      ports: [{ protocol: "ICMP", port: 80 }, { port: "http", endPort: 90 }],
    }],
    policyTypes: ["Ingress", "Sideways"],
  });
  const r = await api.call("POST", url, bad);
  assertEquals(r.status, 422);
  const s = await r.json();
  assertEquals([s.kind, s.status, s.reason, s.code], [
    "Status",
    "Failure",
    "Invalid",
    422,
  ]);
  assertEquals([s.details.group, s.details.kind, s.details.name], [
    "networking.k8s.io",
    "NetworkPolicy",
    "bad",
  ]);
  assertMatch(
    s.message,
    /^NetworkPolicy\.networking\.k8s\.io "bad" is invalid: /,
  );
  const causes = s.details.causes as Cause[];
  assertEquals(causes.map((c) => [c.field, c.reason]), [
    ["spec.ingress[0].ports[0].protocol", "FieldValueNotSupported"],
    ["spec.ingress[0].ports[1].endPort", "FieldValueInvalid"],
    ["spec.ingress[0].from[0].ipBlock.cidr", "FieldValueInvalid"],
    [
      "spec.ingress[0].from[1].podSelector.matchExpressions[0].operator",
      "FieldValueNotSupported",
    ],
    ["spec.policyTypes[1]", "FieldValueNotSupported"],
  ]);
  assertMatch(causes[2].message, /^Invalid value: "10\.0\.0\.0\/33"/);
  // Nothing was stored.
  assertEquals((await api.call("GET", `${url}/bad`)).status, 404);

  // A policy without a spec, or without spec.podSelector.
  const noSpec = await api.call("POST", url, {
    ...policy("nospec"),
    spec: undefined,
  });
  assertEquals(noSpec.status, 422);
  assertEquals((await noSpec.json()).details.causes[0].field, "spec");
  const noSel = await api.call("POST", url, {
    ...policy("nosel"),
    spec: { policyTypes: ["Ingress"] },
  });
  assertEquals(
    (await noSel.json()).details.causes.map((c: Cause) => [c.field, c.reason]),
    [["spec.podSelector", "FieldValueRequired"]],
  );
});

Deno.test("updates and patches are validated too; the stored policy stays", async () => {
  await using api = await withNamespace("team");
  const url = `${BASE}/namespaces/team/networkpolicies`;
  const p = await (await api.call("POST", url, allowFrom)).json();
  const put = await api.call("PUT", `${url}/allow-web`, {
    ...p,
    spec: { ...p.spec, egress: [{ to: [{ ipBlock: { cidr: "nope" } }] }] },
  });
  assertEquals(put.status, 422);
  assertEquals(
    (await put.json()).details.causes[0].field,
    "spec.egress[0].to[0].ipBlock.cidr",
  );
  const patch = await api.call("PATCH", `${url}/allow-web`, {
    spec: {
      ingress: [{
        from: [{
          ipBlock: { cidr: "10.0.0.0/8", except: ["192.168.0.0/16"] },
          podSelector: {},
        }],
      }],
    },
  }, { contentType: MERGE });
  assertEquals(patch.status, 422);
  const causes = (await patch.json()).details.causes as Cause[];
  assertEquals(causes.map((c) => c.field), [
    "spec.ingress[0].from[0]",
    "spec.ingress[0].from[0].ipBlock.except[0]",
  ]);
  assertMatch(causes[0].message, /may not specify more than 1 peer type/);
  assertMatch(causes[1].message, /must be a strict subset of `cidr`/);
  // A dry run is validated the same way.
  const dry = await api.call(
    "POST",
    `${url}?dryRun=All`,
    policy("dry", { ingress: [{ ports: [{ port: 0 }] }] }),
  );
  assertEquals(dry.status, 422);
  const now = await (await api.call("GET", `${url}/allow-web`)).json();
  assertEquals(now.spec, allowFrom.spec);
  assertEquals(now.metadata.resourceVersion, p.metadata.resourceVersion);
});

Deno.test("hostile policies: oversized lists and wrong types are bounded 422s, not crashes", async () => {
  await using api = await withNamespace("team");
  const url = `${BASE}/namespaces/team/networkpolicies`;
  const many = Array.from({ length: MAX_LIST + 1 }, () => ({}));
  for (
    const [spec, field] of [
      [{ ingress: many }, "spec.ingress"],
      [{ ingress: "all" }, "spec.ingress"],
      [{ ingress: [{ from: [{ ipBlock: "x" }] }] }, "spec.ingress[0].from[0]"],
      [{ podSelector: { matchLabels: { "a b": 5 } } }, "spec.podSelector"],
      [{ policyTypes: ["Ingress", "Egress", "Ingress"] }, "spec.policyTypes"],
      [{ egress: [{ ports: [{ port: 1.5 }] }] }, "spec.egress[0].ports[0]"],
    ] as const
  ) {
    const r = await api.call("POST", url, policy("h", spec));
    assertEquals(r.status, 422, JSON.stringify(spec).slice(0, 80));
    const s = await r.json();
    assert(s.details.causes.length >= 1 && s.details.causes.length <= 50);
    assert(
      (s.details.causes as Cause[]).every((c) => c.field.startsWith(field)),
      `${field}: ${JSON.stringify(s.details.causes).slice(0, 300)}`,
    );
    assert(s.message.length < 20_000);
  }
  // 1000 bad peers: at most 50 causes, and still one answer.
  const peers = Array.from({ length: MAX_LIST }, () => ({}));
  const r = await api.call(
    "POST",
    url,
    policy("h", { ingress: [{ from: peers }] }),
  );
  assertEquals(r.status, 422);
  assertEquals((await r.json()).details.causes.length, 50);
});

Deno.test("discovery: networking.k8s.io/v1 serves networkpolicies, short name netpol", async () => {
  await using api = await testApi();
  const groups = await (await api.call("GET", "/apis")).json();
  const g = groups.groups.find((x: { name: string }) =>
    x.name === "networking.k8s.io"
  );
  assertEquals(g.preferredVersion.groupVersion, "networking.k8s.io/v1");
  const list = await (await api.call("GET", BASE)).json();
  assertEquals(list.groupVersion, "networking.k8s.io/v1");
  assertEquals(list.resources, [{
    name: "networkpolicies",
    singularName: "networkpolicy",
    namespaced: true,
    kind: "NetworkPolicy",
    verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
    shortNames: ["netpol"],
  }]);
});

Deno.test("OpenAPI v3 of networking.k8s.io/v1: NetworkPolicy with kube's definition names", async () => {
  await using api = await testApi();
  const index = await (await api.call("GET", "/openapi/v3")).json();
  const ref = index.paths["apis/networking.k8s.io/v1"].serverRelativeURL;
  const doc = await (await api.call("GET", ref)).json();
  const s = doc.components.schemas;
  const np = s["io.k8s.api.networking.v1.NetworkPolicy"];
  assertEquals(np["x-kubernetes-group-version-kind"], [
    { group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy" },
  ]);
  const spec = s["io.k8s.api.networking.v1.NetworkPolicySpec"];
  assertEquals(spec.required, ["podSelector"]);
  assertEquals(spec.properties.podSelector.allOf, [{
    $ref:
      "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
  }]);
  assertEquals(spec.properties.ingress["x-kubernetes-list-type"], "atomic");
  assertEquals(
    s["io.k8s.api.networking.v1.NetworkPolicyPort"].properties.port.allOf,
    [{
      $ref:
        "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    }],
  );
  assert(
    doc
      .paths[
        "/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/{name}"
      ]
      .patch,
  );
  assert(doc.paths["/apis/networking.k8s.io/v1/networkpolicies"].get);
  // Strict field validation knows the schema: a typo is refused.
  const typo = await api.call(
    "POST",
    `${BASE}/namespaces/default/networkpolicies?fieldValidation=Strict`,
    policy("typo", { ingres: [] }),
  );
  assertEquals(typo.status, 400);
  assertMatch((await typo.json()).message, /unknown field "spec\.ingres"/);
});

Deno.test("kubectl get columns: NAME, POD-SELECTOR, AGE", async () => {
  await using api = await withNamespace("team");
  const url = `${BASE}/namespaces/team/networkpolicies`;
  await api.call("POST", url, allowFrom);
  await api.call("POST", url, policy("deny-all"));
  const t = await (await api.call("GET", url, undefined, { accept: TABLE }))
    .json();
  assertEquals(
    t.columnDefinitions.map((c: { name: string }) => c.name),
    ["Name", "Pod-Selector", "Age"],
  );
  assertEquals(
    t.rows.map((r: { cells: string[] }) => r.cells.slice(0, 2)),
    [["allow-web", "app=web"], ["deny-all", "<none>"]],
  );
});

Deno.test("formatSelector prints selectors as kubectl does", () => {
  assertEquals(formatSelector({}), "<none>");
  assertEquals(formatSelector(undefined), "<none>");
  assertEquals(
    formatSelector({
      matchLabels: { tier: "db", app: "web" },
      matchExpressions: [
        { key: "env", operator: "In", values: ["prod", "dev"] },
        { key: "zone", operator: "NotIn", values: ["b"] },
        { key: "canary", operator: "DoesNotExist" },
        { key: "owner", operator: "Exists" },
      ],
    }),
    "app=web,!canary,env in (dev,prod),owner,tier=db,zone notin (b)",
  );
});

Deno.test("deleting a namespace deletes its network policies", async () => {
  await using api = await withNamespace("tmp");
  const url = `${BASE}/namespaces/tmp/networkpolicies`;
  assertEquals((await api.call("POST", url, allowFrom)).status, 201);
  assertEquals(
    (await api.call("DELETE", "/api/v1/namespaces/tmp")).status,
    200,
  );
  await api.call("POST", "/api/v1/namespaces", { metadata: { name: "tmp" } });
  assertEquals((await (await api.call("GET", url)).json()).items, []);
});

Deno.test("the API loads the policy validator, never the nft controller", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "src/api/mod.ts"],
    cwd: new URL("../../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "null",
  }).output();
  assertEquals(out.code, 0);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string } }[];
    }[];
  };
  const bySpec = new Map(info.modules.map((m) => [m.specifier, m]));
  // The modules that run (type-only imports are erased).
  const seen = new Set<string>();
  const todo = [...info.roots];
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of bySpec.get(s)?.dependencies ?? []) {
      if (d.code) todo.push(d.code.specifier);
    }
  }
  const netpol = [...seen].filter((s) => s.includes("/src/netpol/"))
    .map((s) => s.slice(s.indexOf("/src/") + 1)).sort();
  assertEquals(netpol, ["src/netpol/errors.ts", "src/netpol/validate.ts"]);
  assertEquals([...seen].filter((s) => s.includes("/src/kube/")), []);
});
