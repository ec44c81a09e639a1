// Result shapes per spec version, and reading a result of any version.

import { assertEquals, assertThrows } from "@std/assert";
import {
  CniError,
  compareVersions,
  type Result,
  resultFor,
  SUPPORTED_VERSIONS,
  upgradeResult,
} from "../../src/cni/mod.ts";

const RESULT: Result = {
  cniVersion: "1.1.0",
  interfaces: [
    { name: "cni0", mac: "0a:58:0a:2a:01:01" },
    { name: "eth0", mac: "0a:58:0a:2a:01:05", sandbox: "/run/netns/x" },
  ],
  ips: [
    { address: "10.42.1.5/24", gateway: "10.42.1.1", interface: 1 },
    { address: "fd00:42::5/64", gateway: "fd00:42::1", interface: 1 },
  ],
  routes: [{ dst: "10.42.0.0/16" }, { dst: "fd00::/8", gw: "fd00:42::1" }],
  dns: { nameservers: ["10.43.0.10"] },
};

Deno.test("resultFor() 0.1.0/0.2.0: ip4/ip6 with their routes and dns", () => {
  for (const v of ["0.1.0", "0.2.0"]) {
    assertEquals(resultFor(RESULT, v), {
      cniVersion: v,
      ip4: {
        ip: "10.42.1.5/24",
        gateway: "10.42.1.1",
        routes: [{ dst: "10.42.0.0/16" }],
      },
      ip6: {
        ip: "fd00:42::5/64",
        gateway: "fd00:42::1",
        routes: [{ dst: "fd00::/8", gw: "fd00:42::1" }],
      },
      dns: { nameservers: ["10.43.0.10"] },
    });
  }
});

Deno.test("resultFor() 0.3.x/0.4.0: ips carry a version", () => {
  for (const v of ["0.3.0", "0.3.1", "0.4.0"]) {
    const out = resultFor(RESULT, v);
    assertEquals(out.cniVersion, v);
    assertEquals(out.interfaces, RESULT.interfaces);
    assertEquals(out.ips, [
      { version: "4", ...RESULT.ips![0] },
      { version: "6", ...RESULT.ips![1] },
    ]);
    assertEquals(out.routes, RESULT.routes);
  }
});

Deno.test("resultFor() 1.x: ips without version", () => {
  for (const v of ["1.0.0", "1.1.0"]) {
    assertEquals(resultFor(RESULT, v), { ...RESULT, cniVersion: v });
  }
});

Deno.test("upgradeResult() reads every version's shape back to the same result", () => {
  for (const v of SUPPORTED_VERSIONS) {
    const back = upgradeResult(resultFor(RESULT, v));
    if (compareVersions(v, "0.3.0") < 0) {
      assertEquals(back.ips, RESULT.ips!.map(({ interface: _i, ...ip }) => ip));
      assertEquals(back.routes, RESULT.routes);
      assertEquals(back.interfaces, undefined);
    } else {
      assertEquals(back, RESULT);
    }
  }
});

Deno.test("resultFor() to 0.2.0 without any IP is an error", () => {
  assertThrows(
    () =>
      resultFor({ cniVersion: "1.1.0", interfaces: [{ name: "x" }] }, "0.2.0"),
    CniError,
    "no valid IP addresses",
  );
});

Deno.test("upgradeResult() rejects a result that is not an object", () => {
  assertThrows(() => upgradeResult("x"), CniError, "not a JSON object");
  assertThrows(
    () => upgradeResult({ ips: [{}] }),
    CniError,
    "without an address",
  );
});

Deno.test("compareVersions() orders spec versions", () => {
  assertEquals(compareVersions("0.3.1", "0.4.0") < 0, true);
  assertEquals(compareVersions("1.1.0", "1.0.0") > 0, true);
  assertEquals(compareVersions("0.10.0", "0.9.0") > 0, true);
  assertEquals(compareVersions("1.0.0", "1.0.0"), 0);
});
