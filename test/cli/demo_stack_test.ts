// weft demo's address families: the flags, and the plan of addresses and
// server flags for IPv4, IPv6-only and both dual-stack orders.

import { assertEquals } from "@std/assert";
import { parseDemoArgs } from "../../src/cli/demo/mod.ts";
import { StackPlan } from "../../src/cli/demo/stack.ts";

Deno.test("weft demo: --ipv6 and --dual-stack choose the stack; IPv4 by default", () => {
  for (
    const [args, stack] of [
      [[], "ipv4"],
      [["--ipv6"], "ipv6"],
      [["--dual-stack"], "dual"],
      [["--dual-stack", "--ipv6"], "dual6"],
      [["--ipv6", "--dual-stack"], "dual6"],
    ] as const
  ) {
    assertEquals(parseDemoArgs([...args]).stack, stack, args.join(" "));
  }
});

Deno.test("StackPlan: node addresses, gateways and server flags per stack", () => {
  const v4 = new StackPlan("ipv4");
  assertEquals(v4.nodeIPs(1), ["10.250.0.11"]);
  assertEquals(v4.gatewayCidrs(), ["10.250.0.1/24"]);
  assertEquals(v4.serverArgs(), []);

  const v6 = new StackPlan("ipv6");
  assertEquals(v6.nodeIPs(1), ["fd77::1"]);
  assertEquals(v6.nodeIP(12, 6), "fd77::c");
  assertEquals(v6.gatewayCidrs(), ["fd77::fe/64"]);
  assertEquals(v6.has(4), false);
  assertEquals(v6.serverArgs(), [
    "--cluster-cidr",
    "fd42::/56",
    "--service-cidr",
    "fd43::/112",
    "--flannel-ipv6-masq",
  ]);

  const dual6 = new StackPlan("dual6");
  assertEquals(dual6.primary, 6);
  assertEquals(dual6.nodeIPs(2), ["fd77::2", "10.250.0.12"]);
  assertEquals(dual6.serverArgs().slice(0, 4), [
    "--cluster-cidr",
    "fd42::/56,10.42.0.0/16",
    "--service-cidr",
    "fd43::/112,10.43.0.0/16",
  ]);
  assertEquals(new StackPlan("dual").nodeIPs(2), ["10.250.0.12", "fd77::2"]);
});
