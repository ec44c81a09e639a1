import { assertEquals, assertThrows } from "@std/assert";
import { ApiError } from "../../src/api/mod.ts";
import {
  jsonPatch,
  mergePatch,
  strategicMergePatch,
} from "../../src/api/patch.ts";

Deno.test("mergePatch follows RFC 7386", () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [["a", "b"], ["c", "d"], ["c", "d"]],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  ];
  for (const [target, patch, want] of cases) {
    assertEquals(mergePatch(target as never, patch as never), want as never);
  }
});

Deno.test("strategicMergePatch: primitive merge lists, $deleteFromPrimitiveList, $patch replace", () => {
  const keys = { "spec.podCIDRs": "", "status.conditions": "type" };
  assertEquals(
    strategicMergePatch({ spec: { podCIDRs: ["a"] } }, {
      spec: { podCIDRs: ["b", "a"] },
    }, keys),
    { spec: { podCIDRs: ["a", "b"] } },
  );
  assertEquals(
    strategicMergePatch({ spec: { podCIDRs: ["a", "b"] } }, {
      spec: { "$deleteFromPrimitiveList/podCIDRs": ["a"] },
    }, keys),
    { spec: { podCIDRs: ["b"] } },
  );
  assertEquals(
    strategicMergePatch({ spec: { x: 1, y: 2 } }, {
      spec: { $patch: "replace", z: 3 },
    }, keys),
    { spec: { z: 3 } },
  );
  assertEquals(
    strategicMergePatch(
      { status: { conditions: [{ type: "A" }, { type: "B" }] } },
      { status: { conditions: [{ $patch: "replace" }, { type: "C" }] } },
      keys,
    ),
    { status: { conditions: [{ type: "C" }] } },
  );
  // Lists without a merge key are replaced.
  assertEquals(
    strategicMergePatch({ spec: { taints: [{ key: "a" }] } }, {
      spec: { taints: [{ key: "b" }] },
    }, keys),
    { spec: { taints: [{ key: "b" }] } },
  );
  assertThrows(
    () =>
      strategicMergePatch(
        {},
        { status: { conditions: [{ status: "True" }] } },
        keys,
      ),
    ApiError,
    "merge key",
  );
});

Deno.test("jsonPatch move and copy, and errors for bad paths", () => {
  assertEquals(
    jsonPatch({ a: { b: 1 }, c: [1, 2] }, [
      { op: "move", from: "/a/b", path: "/x" },
      { op: "copy", from: "/c/0", path: "/c/-" },
      { op: "add", path: "/c/0", value: 0 },
    ]),
    { a: {}, x: 1, c: [0, 1, 2, 1] },
  );
  assertThrows(
    () => jsonPatch({}, [{ op: "replace", path: "/nope", value: 1 }]),
    ApiError,
    "does not exist",
  );
  assertThrows(
    () => jsonPatch({}, [{ op: "frob", path: "/a" }]),
    ApiError,
    "unknown JSON patch operation",
  );
  assertThrows(
    () => jsonPatch({}, { op: "add" }),
    ApiError,
    "array of operations",
  );
  assertThrows(
    () => jsonPatch({ a: [] }, [{ op: "add", path: "/a/5", value: 1 }]),
    ApiError,
    "out of range",
  );
});
