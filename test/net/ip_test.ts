import { assertEquals, assertThrows } from "@std/assert";
import { CIDR, formatMAC, IP, parseMAC, randomMAC } from "../../src/net/mod.ts";

Deno.test("IP.parse() round-trips IPv4 and IPv6 in canonical form", () => {
  const cases: [string, string][] = [
    ["10.42.0.1", "10.42.0.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["fd00::1", "fd00::1"],
    ["FD00:0:0:0:0:0:0:1", "fd00::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["::ffff:1.2.3.4", "::ffff:102:304"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
  ];
  for (const [input, want] of cases) {
    const ip = IP.parse(input);
    assertEquals(ip.toString(), want);
    assertEquals(IP.parse(ip.toString()).equals(ip), true);
    assertEquals(IP.fromBytes(ip.bytes()).equals(ip), true);
  }
});

Deno.test("IP.parse() rejects malformed addresses with the text quoted", () => {
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.256",
      "01.2.3.4",
      "1::2::3",
      "g::1",
      "1:2:3:4:5:6:7:8:9",
      "1.2.3.4/24",
    ]
  ) {
    assertThrows(() => IP.parse(bad), TypeError, `"${bad}"`);
  }
});

Deno.test("CIDR arithmetic: network, first, last, contains, subnet", () => {
  const c = CIDR.parse("10.42.1.1/24");
  assertEquals(c.network().toString(), "10.42.1.0/24");
  assertEquals(c.first().toString(), "10.42.1.0");
  assertEquals(c.last().toString(), "10.42.1.255");
  assertEquals(c.maskString(), "255.255.255.0");
  assertEquals(c.contains(IP.parse("10.42.1.200")), true);
  assertEquals(c.contains(IP.parse("10.42.2.0")), false);
  const cluster = CIDR.parse("10.42.0.0/16");
  assertEquals(cluster.contains(c), true);
  assertEquals(cluster.subnet(24, 3).toString(), "10.42.3.0/24");
  assertEquals(cluster.subnet(24, 255).toString(), "10.42.255.0/24");
  assertThrows(() => cluster.subnet(24, 256), RangeError);
  const v6 = CIDR.parse("fd00:42::/56");
  assertEquals(v6.subnet(64, 1).toString(), "fd00:42:0:1::/64");
  assertEquals(v6.contains(IP.parse("10.42.0.1")), false);
  assertEquals(CIDR.tryParse("10.0.0.0/33"), null);
  assertEquals(CIDR.parse(c.toString()).equals(c), true);
});

Deno.test("MAC helpers: parse/format round trip and randomMAC is local unicast", () => {
  assertEquals(formatMAC(parseMAC("12:C6:65:89:b4:e3")), "12:c6:65:89:b4:e3");
  assertThrows(() => parseMAC("12:c6:65:89:b4"), TypeError);
  for (let i = 0; i < 50; i++) {
    const b = parseMAC(randomMAC());
    assertEquals(b[0] & 0x03, 0x02);
  }
});
