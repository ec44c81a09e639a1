import { assertEquals, assertThrows } from "@std/assert";
import { ApiError } from "../../src/api/mod.ts";
import {
  fieldSelector,
  labelSelector,
  parseRequirements,
} from "../../src/api/selectors.ts";

Deno.test("parseRequirements reads every operator kubectl sends", () => {
  assertEquals(
    parseRequirements("a=b, c==d,e!=f,g in (x, y),h notin (z),i,!j"),
    [
      { key: "a", op: "=", value: "b" },
      { key: "c", op: "=", value: "d" },
      { key: "e", op: "!=", value: "f" },
      { key: "g", op: "in", values: ["x", "y"] },
      { key: "h", op: "notin", values: ["z"] },
      { key: "i", op: "exists" },
      { key: "j", op: "!exists" },
    ],
  );
  assertEquals(parseRequirements("node-role.kubernetes.io/control-plane"), [
    { key: "node-role.kubernetes.io/control-plane", op: "exists" },
  ]);
  assertEquals(parseRequirements(""), []);
});

Deno.test("labelSelector matches; a malformed selector is 400", () => {
  const labels: Record<string, string> = { zone: "x", gpu: "" };
  const m = (s: string) => labelSelector(s)((k) => labels[k]);
  assertEquals(m("zone=x"), true);
  assertEquals(m("zone!=x"), false);
  assertEquals(m("other!=x"), true);
  assertEquals(m("zone in (y)"), false);
  assertEquals(m("other notin (y)"), true);
  assertEquals(m("gpu"), true);
  assertEquals(m("gpu="), true);
  for (const bad of ["zone in (x", "=x", "a b", "zone in x", "a=b=c"]) {
    const err = assertThrows(() => labelSelector(bad), ApiError);
    assertEquals(err.code, 400, bad);
  }
});

Deno.test("fieldSelector allows only the resource's fields", () => {
  const s = fieldSelector("metadata.name=a,spec.nodeName!=b", [
    "metadata.name",
    "spec.nodeName",
  ]);
  assertEquals(
    s((f) => ({ "metadata.name": "a", "spec.nodeName": "c" })[f]),
    true,
  );
  assertEquals(
    s((f) => ({ "metadata.name": "a", "spec.nodeName": "b" })[f]),
    false,
  );
  assertThrows(
    () => fieldSelector("status.x=1", ["metadata.name"]),
    ApiError,
    "field label not supported",
  );
  assertThrows(
    () => fieldSelector("metadata.name in (a)", ["metadata.name"]),
    ApiError,
  );
});
