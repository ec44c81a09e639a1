// Unit tests of the message codec and address parsing inside ffi/ (internal
// modules, tested directly because every netlink request depends on them).
import { assertEquals, assertThrows } from "@std/assert";
import { attrs, messages, MsgBuilder, strOf, u32Of } from "../../ffi/_wire.ts";
import {
  formatIp,
  formatMac,
  parseCidr,
  parseIp,
  parseMac,
} from "../../ffi/_addr.ts";
import { errnoName, NetlinkError, nleToErrno } from "../../ffi/errors.ts";

Deno.test("MsgBuilder writes header, nested attributes and padding; messages/attrs read them back", () => {
  const b = new MsgBuilder(16, 0x400).raw(new Uint8Array(16)).str(
    3,
    "flannel.1",
  );
  b.nest(18).str(1, "vxlan").nest(2).u32(1, 0xabcdef).be16(15, 8472).u8(7, 0)
    .flag(23).end().end();
  for (let i = 0; i < 40; i++) b.u32(100 + i, i); // grows past the initial buffer
  const msg = b.finish(77);
  const [m, ...rest] = [...messages(msg)];
  assertEquals(rest, []);
  assertEquals([m.type, m.flags, m.seq, msg.length % 4], [16, 0x401, 77, 0]);
  const a = attrs(m.data, 16);
  assertEquals(strOf(a.get(3)!), "flannel.1");
  const info = attrs(a.get(18)!);
  assertEquals(strOf(info.get(1)!), "vxlan");
  const data = attrs(info.get(2)!);
  assertEquals(u32Of(data.get(1)!), 0xabcdef);
  assertEquals(data.get(15)!.getUint16(0, false), 8472);
  assertEquals([data.get(7)!.byteLength, data.get(23)!.byteLength], [1, 0]);
  assertEquals(u32Of(a.get(139)!), 39);
});

Deno.test("MsgBuilder.fromBytes keeps a libnl-built message and marks it a request", () => {
  const libnlBuilt = new MsgBuilder(36, 0x400).u32(1, 7).finish(0);
  libnlBuilt[6] &= ~1; // libnl leaves NLM_F_REQUEST to its send path
  const [m] = [...messages(MsgBuilder.fromBytes(libnlBuilt).finish(9))];
  assertEquals([m.type, m.flags, m.seq, u32Of(attrs(m.data).get(1)!)], [
    36,
    0x401,
    9,
    7,
  ]);
});

Deno.test("MsgBuilder.end() without nest() is an error", () => {
  assertThrows(() => new MsgBuilder(1, 0).end(), Error, "without nest");
});

Deno.test("parseIp/formatIp round-trip IPv4 and IPv6 in canonical form", () => {
  for (
    const s of [
      "0.0.0.0",
      "10.42.1.0",
      "255.255.255.255",
      "::",
      "::1",
      "fd00:42::1",
      "2001:db8::8:800:200c:417a",
      "fe80::1:0:0:1",
    ]
  ) {
    assertEquals(formatIp(parseIp(s).bytes), s);
  }
  assertEquals(
    formatIp(parseIp("2001:0db8:0000:0000:0000:0000:0000:0001").bytes),
    "2001:db8::1",
  );
  assertEquals(formatIp(parseIp("::ffff:10.1.2.3").bytes), "::ffff:a01:203");
  assertEquals(formatIp(parseIp("1:0:0:2:0:0:0:3").bytes), "1:0:0:2::3");
  for (
    const bad of [
      "",
      "10.1.2",
      "10.1.2.256",
      "1.2.3.4.5",
      "a.b.c.d",
      "1:2:3",
      "1::2::3",
      "10.0.0.1 ",
    ]
  ) {
    assertThrows(() => parseIp(bad), TypeError, `"${bad}"`);
  }
});

Deno.test("parseCidr checks the prefix length", () => {
  assertEquals(parseCidr("10.42.0.0/16").prefix, 16);
  assertEquals(parseCidr("fd00::/8").prefix, 8);
  assertEquals(parseCidr("10.0.0.1").prefix, 32);
  for (const bad of ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/1x", "::/129"]) {
    assertThrows(() => parseCidr(bad), TypeError, `"${bad}"`);
  }
});

Deno.test("parseMac/formatMac round-trip and reject bad input", () => {
  assertEquals(formatMac(parseMac("0A:58:00:ff:1:2")), "0a:58:00:ff:01:02");
  assertEquals(formatMac(parseMac("aa-bb-cc-dd-ee-ff")), "aa:bb:cc:dd:ee:ff");
  for (
    const bad of [
      "",
      "aa:bb:cc:dd:ee",
      "aa:bb:cc:dd:ee:ff:00",
      "aa:bb:cc:dd:ee:fg",
      "aaa:bb:cc:dd:ee:ff",
      "aa::cc:dd:ee:ff",
    ]
  ) {
    assertThrows(() => parseMac(bad), TypeError, `"${bad}"`);
  }
});

Deno.test("NetlinkError carries errno, its name and the operation", () => {
  const e = new NetlinkError(17, "link add flannel.1");
  assertEquals([e.name, e.errno, e.code, e.op, e.message], [
    "NetlinkError",
    17,
    "EEXIST",
    "link add flannel.1",
    "link add flannel.1: EEXIST",
  ]);
  assertEquals([errnoName(19), errnoName(95), errnoName(3), errnoName(4242)], [
    "ENODEV",
    "EOPNOTSUPP",
    "ESRCH",
    "E4242",
  ]);
  // libnl codes map back to errnos: NLE_EXIST, NLE_NODEV, NLE_OBJ_NOTFOUND, NLE_OPNOTSUPP
  assertEquals([6, 31, 12, 10].map((n) => errnoName(nleToErrno(n))), [
    "EEXIST",
    "ENODEV",
    "ENOENT",
    "EOPNOTSUPP",
  ]);
});
