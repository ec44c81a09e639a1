// What the fuzzer (fuzz_test.ts) found, pinned as plain regression tests
// so they hold whatever seed a run draws.

import {
  assertEquals,
  assertMatch,
  assertRejects,
  assertThrows,
} from "@std/assert";
import { resolveConfig } from "../../src/cli/config.ts";
import { UsageError } from "../../src/cli/errors.ts";
import { CniError } from "../../src/cni/plugin.ts";
import { parseMappings } from "../../src/cni/portmap/config.ts";
import { parseConfig } from "../../src/cni/skel.ts";
import { upgradeResult } from "../../src/cni/version.ts";
import { node, testApi } from "../api/_fixture.ts";

Deno.test("fuzz finding: a config.yaml key that is a regex or huge is an unknown key, not a SyntaxError", async () => {
  for (const key of ["(", "a)b", "[x", "c".repeat(40_000), "\\"]) {
    await assertRejects(
      () =>
        resolveConfig({
          command: "server",
          args: [],
          env: {},
          readFile: () => `cluster-cidr: 10.42.0.0/16\n'${key}': 1\n`,
          hostname: () => "h",
        }),
      UsageError,
      "unknown key",
    );
  }
});

Deno.test("fuzz finding: a CNI config nested thousands deep is a decoding error (code 6)", () => {
  const deep = '{"a":'.repeat(5000) + "1" + "}".repeat(5000);
  const conf =
    `{"cniVersion":"1.0.0","name":"n","type":"bridge","delegate":${deep}}`;
  const e = assertThrows(
    () => parseConfig(new TextEncoder().encode(conf), "bridge"),
    CniError,
  );
  assertEquals(e.code, 6);
});

Deno.test("fuzz finding: a prevResult with an address that is not a CIDR is a decoding error (code 6)", () => {
  for (
    const bad of [
      { ips: [{ address: "10.42é.1.5/24" }] },
      { ips: [{ address: "10.42.1.5/24", gateway: "x" }] },
      { routes: [{ dst: "nowhere" }] },
      { ip4: { ip: "300.1.1.1/24" } },
    ]
  ) {
    const e = assertThrows(
      () => upgradeResult({ cniVersion: "1.0.0", ...bad }),
      CniError,
    );
    assertEquals(e.code, 6, JSON.stringify(bad));
  }
});

Deno.test("fuzz finding: a port mapping that is not an object is an invalid config (code 7)", () => {
  for (const m of [null, 5, "80:80", [80]]) {
    const e = assertThrows(
      () =>
        parseMappings({
          cniVersion: "1.0.0",
          name: "n",
          type: "portmap",
          runtimeConfig: { portMappings: [m] },
        }),
      CniError,
    );
    assertEquals(e.code, 7, JSON.stringify(m));
  }
});

Deno.test("fuzz finding: JSON patches with a non-string from or prototype paths get 400; __proto__ keys stay data", async () => {
  await using api = await testApi();
  assertEquals(
    (await api.call("POST", "/api/v1/nodes", node("a"))).status,
    201,
  );
  const jp = (ops: unknown) =>
    api.call("PATCH", "/api/v1/nodes/a", ops, {
      contentType: "application/json-patch+json",
    });
  for (
    const ops of [
      [{ op: "move", from: 7, path: "/metadata/labels/x" }],
      [{ op: "copy", from: ["/kind"], path: "/metadata/labels/x" }],
      [{ op: "copy", from: "/constructor", path: "/metadata/labels/x" }],
      [{ op: "replace", path: "/metadata/toString", value: "x" }],
      [{ op: "add", path: "/metadata/finalizers", value: [] }, {
        op: "add",
        path: "/metadata/finalizers/",
        value: "x",
      }],
    ]
  ) {
    const res = await jp(ops);
    const st = await res.json();
    assertEquals(res.status, 400, `${JSON.stringify(ops)}: ${st.message}`);
  }
  const merged = await api.call(
    "PATCH",
    "/api/v1/nodes/a",
    '{"metadata":{"labels":{"__proto__":{"polluted":"yes"}}}}',
    { contentType: "application/merge-patch+json" },
  );
  // An own "__proto__" label key is data: validation refuses its value.
  assertEquals(merged.status, 422);
  assertMatch((await merged.json()).message, /label/);
  assertEquals(({} as Record<string, unknown>).polluted, undefined);
});
