import { assertEquals, assertThrows } from "@std/assert";
import {
  createAuthorizer,
  type EgressMode,
  parseTarget,
} from "../../src/tunnel/mod.ts";

const make = (mode: EgressMode) =>
  createAuthorizer({
    mode,
    nodeEndpointPort: 10250,
    nodeIPs: ["192.168.1.10", "fd00::10"],
    podCIDRs: ["10.42.3.0/24"],
    clusterCIDRs: ["10.42.0.0/16", "fd42::/56"],
  });

const cases: [string, EgressMode[]][] = [
  ["127.0.0.1:10250", ["disabled", "agent", "pod", "cluster"]],
  ["localhost:10250", ["disabled", "agent", "pod", "cluster"]],
  ["[::1]:10010", ["disabled", "agent", "pod", "cluster"]],
  ["127.0.0.1:22", []],
  ["192.168.1.10:8080", ["pod", "cluster"]],
  ["[fd00::10]:8080", ["pod", "cluster"]],
  ["10.42.3.9:80", ["pod", "cluster"]],
  ["10.42.7.9:80", ["cluster"]],
  ["[fd42::5]:80", ["cluster"]],
  ["10.43.0.1:80", []],
  ["8.8.8.8:53", []],
  ["example.com:80", []],
];

Deno.test("createAuthorizer: allows by mode, denies the rest with a reason", () => {
  for (const mode of ["disabled", "agent", "pod", "cluster"] as const) {
    const auth = make(mode);
    for (const [target, allowed] of cases) {
      const r = auth(parseTarget(target));
      if (allowed.includes(mode)) assertEquals(r, null, `${mode} ${target}`);
      else {
        assertEquals(
          r?.startsWith(`denied by the ${mode} mode authorizer`),
          true,
          `${mode} ${target}: ${r}`,
        );
      }
    }
  }
});

Deno.test("createAuthorizer: bad CIDRs and IPs are errors", () => {
  const base = {
    mode: "cluster" as const,
    nodeEndpointPort: 10250,
    nodeIPs: [],
    podCIDRs: [],
    clusterCIDRs: [],
  };
  assertThrows(
    () => createAuthorizer({ ...base, clusterCIDRs: ["10.42.0.0"] }),
    TypeError,
    'bad cluster CIDR "10.42.0.0"',
  );
  assertThrows(
    () => createAuthorizer({ ...base, nodeIPs: ["nope"] }),
    TypeError,
    'bad node IP "nope"',
  );
});
