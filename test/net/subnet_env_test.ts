// net/subnet_env.ts: the one subnet.env parser, strict (flannel's own file)
// and lenient (as flannel's Go CNI plugin reads it).

import { assertEquals, assertThrows } from "@std/assert";
import { parseSubnetEnvText, SubnetEnvError } from "../../src/net/mod.ts";

const TEXT = `# written by flannel
FLANNEL_NETWORK=10.42.0.0/16,10.44.0.0/16
FLANNEL_SUBNET=10.42.1.1/24
FLANNEL_IPV6_NETWORK=fd42::/56
FLANNEL_IPV6_SUBNET=fd42:0:0:1::1/64
FLANNEL_MTU=1450
FLANNEL_IPMASQ=true
FLANNEL_FUTURE=x
`;

Deno.test("parseSubnetEnvText(): lists, CIDRs as written, the line of each key; unknown keys ignored", () => {
  const env = parseSubnetEnvText(TEXT, { strict: true });
  assertEquals(env.networks.map(String), ["10.42.0.0/16", "10.44.0.0/16"]);
  assertEquals(env.subnet?.toString(), "10.42.1.1/24");
  assertEquals(env.ipv6Networks.map(String), ["fd42::/56"]);
  assertEquals(env.ipv6Subnet?.toString(), "fd42:0:0:1::1/64");
  assertEquals([env.mtu, env.ipMasq], [1450, true]);
  assertEquals(env.lines.get("FLANNEL_MTU")?.number, 6);
  assertEquals(env.lines.has("FLANNEL_FUTURE"), false);
  const empty = parseSubnetEnvText("");
  assertEquals([empty.mtu, empty.ipMasq, empty.subnet], [null, null, null]);
});

Deno.test("parseSubnetEnvText(): strict rejects a line without = and a non-boolean FLANNEL_IPMASQ; lenient skips or reads false", () => {
  const e = assertThrows(
    () => parseSubnetEnvText("FLANNEL_MTU=1450\nnonsense\n", { strict: true }),
    SubnetEnvError,
    'subnet.env line 2: no "=" in "nonsense"',
  );
  assertEquals(e.problem, "no-equals");
  assertThrows(
    () => parseSubnetEnvText("FLANNEL_IPMASQ=yes", { strict: true }),
    SubnetEnvError,
    "bad value",
  );
  const lenient = parseSubnetEnvText("nonsense\nFLANNEL_IPMASQ=yes\n");
  assertEquals(lenient.ipMasq, false);
});

Deno.test("parseSubnetEnvText(): a bad CIDR or MTU names its line and the bad item, in both modes", () => {
  for (const strict of [true, false]) {
    const e = assertThrows(
      () =>
        parseSubnetEnvText("FLANNEL_NETWORK=10.42.0.0/16, 10.999.0.0/16", {
          strict,
        }),
      SubnetEnvError,
      "subnet.env line 1: bad value",
    );
    assertEquals([e.line.key, e.item.trim()], [
      "FLANNEL_NETWORK",
      "10.999.0.0/16",
    ]);
    assertThrows(
      () => parseSubnetEnvText("FLANNEL_MTU=-1", { strict }),
      SubnetEnvError,
    );
  }
});
