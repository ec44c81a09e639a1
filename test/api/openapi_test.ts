// The OpenAPI documents: generated from the resource table, with the
// group-version-kind and merge-key extensions kubectl relies on, cached by
// content hash; and server-side field validation against the same schemas.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { mergeKeysOf, openApiV3Paths } from "../../src/api/openapi/mod.ts";
import { NODES, PODS, RESOURCES } from "../../src/api/resources.ts";
import { node, testApi } from "./_fixture.ts";

const PROTO = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

type Doc = Record<string, Record<string, Record<string, unknown>>>;

Deno.test("/openapi/v2 is JSON with every served kind; protobuf-only Accept is 406", async () => {
  await using api = await testApi();
  const res = await api.call("GET", "/openapi/v2");
  assertEquals(res.status, 200);
  const doc = await res.json() as Doc;
  for (const def of RESOURCES) {
    const d = doc.definitions[def.schema.name];
    assertEquals(d["x-kubernetes-group-version-kind"], [
      { group: def.group, version: def.version, kind: def.kind },
    ]);
  }
  const spec = doc.definitions["io.k8s.api.core.v1.NodeSpec"] as {
    properties: Record<string, Record<string, unknown>>;
  };
  assertEquals(
    spec.properties.podCIDRs["x-kubernetes-patch-strategy"],
    "merge",
  );
  const status = doc.definitions["io.k8s.api.core.v1.NodeStatus"] as {
    properties: Record<string, Record<string, unknown>>;
  };
  assertEquals(
    status.properties.conditions["x-kubernetes-patch-merge-key"],
    "type",
  );
  assert(doc.paths["/api/v1/namespaces/{namespace}/pods/{name}"].patch);
  const proto = await api.call("GET", "/openapi/v2", undefined, {
    accept: PROTO,
  });
  assertEquals(proto.status, 406);
  assertEquals((await proto.json()).reason, "NotAcceptable");
  const both = await api.call("GET", "/openapi/v2", undefined, {
    accept: `${PROTO}, application/json`,
  });
  assertEquals(both.status, 200);
  assertEquals(
    (await api.call("GET", "/openapi/v2", undefined, { token: null })).status,
    401,
  );
});

Deno.test("/openapi/v3 lists each group/version with a hash; documents are cached", async () => {
  await using api = await testApi();
  const index = await (await api.call("GET", "/openapi/v3")).json() as {
    paths: Record<string, { serverRelativeURL: string }>;
  };
  assertEquals(Object.keys(index.paths).sort(), openApiV3Paths().sort());
  assertEquals(Object.keys(index.paths).sort(), [
    "api/v1",
    "apis/events.k8s.io/v1",
    "apis/networking.k8s.io/v1",
  ]);
  const url = index.paths["api/v1"].serverRelativeURL;
  assertMatch(url, /^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{128}$/);
  const res = await api.call("GET", url);
  assertEquals(res.status, 200);
  assertMatch(res.headers.get("cache-control")!, /immutable/);
  const etag = res.headers.get("etag")!;
  const doc = await res.json() as {
    paths: Record<
      string,
      Record<
        string,
        {
          parameters: { name: string }[];
          requestBody?: { content: Record<string, unknown> };
        }
      >
    >;
    components: { schemas: Record<string, Record<string, unknown>> };
  };
  const patch = doc.paths["/api/v1/nodes/{name}"].patch;
  assert(patch.parameters.some((p) => p.name === "fieldValidation"));
  assert(
    "application/strategic-merge-patch+json" in patch.requestBody!.content,
  );
  assert("application/apply-patch+yaml" in patch.requestBody!.content);
  assert(doc.components.schemas["io.k8s.api.core.v1.Node"]);
  assertEquals(doc.components.schemas["io.k8s.api.events.v1.Event"], undefined);
  assert(!JSON.stringify(doc).includes("#/definitions/"));
  const again = await api.call("GET", "/openapi/v3/api/v1", undefined, {
    accept: "application/json",
  });
  assertMatch(again.headers.get("cache-control")!, /no-cache/);
  await again.body?.cancel();
  const cached = await api.app.request("/openapi/v3/api/v1", {
    headers: { authorization: "Bearer admin-token", "if-none-match": etag },
  });
  assertEquals(cached.status, 304);
  assertEquals((await api.call("GET", "/openapi/v3/apis/nope/v1")).status, 404);
});

Deno.test("fieldValidation: Strict refuses unknown fields, Warn warns, Ignore accepts", async () => {
  await using api = await testApi();
  const bad = node("a", { spec: { podCIDRx: "1" }, status: { bogus: 1 } });
  const strict = await api.call(
    "POST",
    "/api/v1/nodes?fieldValidation=Strict",
    bad,
  );
  assertEquals(strict.status, 400);
  assertMatch(
    (await strict.json()).message,
    /strict decoding error: unknown field "spec\.podCIDRx", unknown field "status\.bogus"/,
  );
  const warn = await api.call("POST", "/api/v1/nodes", bad);
  assertEquals(warn.status, 201);
  assertMatch(
    warn.headers.get("warning")!,
    /^299 - "unknown field \\"spec\.podCIDRx\\""/,
  );
  await warn.body?.cancel();
  const ignore = await api.call(
    "POST",
    "/api/v1/nodes?fieldValidation=Ignore",
    node("b", {
      spec: { x: 1 },
    }),
  );
  assertEquals([ignore.status, ignore.headers.get("warning")], [201, null]);
  await ignore.body?.cancel();
  // Open parts of a schema (a container's other fields) take anything.
  const pod = await api.call(
    "POST",
    "/api/v1/namespaces/default/pods?fieldValidation=Strict",
    {
      metadata: { name: "p" },
      spec: {
        containers: [{
          name: "c",
          image: "i",
          securityContext: { privileged: true },
        }],
      },
    },
  );
  assertEquals(pod.status, 201);
  await pod.body?.cancel();
  const other = await api.call(
    "POST",
    "/api/v1/nodes?fieldValidation=Loose",
    node("c"),
  );
  assertEquals(other.status, 400);
  await other.body?.cancel();
});

Deno.test("strategic merge keys come from the schemas' patch extensions", () => {
  assertEquals(mergeKeysOf(NODES), {
    "metadata.finalizers": "",
    "metadata.ownerReferences": "uid",
    "spec.podCIDRs": "",
    "status.addresses": "type",
    "status.conditions": "type",
  });
  const pod = mergeKeysOf(PODS);
  for (
    const [path, key] of Object.entries({
      "metadata.finalizers": "",
      "metadata.ownerReferences": "uid",
      "spec.containers": "name",
      "spec.initContainers": "name",
      "spec.containers[].ports": "containerPort",
      "spec.containers[].env": "name",
      "spec.containers[].volumeMounts": "mountPath",
      "spec.volumes": "name",
      "status.conditions": "type",
      "status.podIPs": "ip",
    })
  ) {
    assertEquals(pod[path], key, path);
  }
  assertEquals(pod["spec.initContainers[].ports"], "containerPort");
  assertEquals(pod["spec.containers[].command"], undefined);
});
