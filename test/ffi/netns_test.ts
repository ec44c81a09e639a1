import { assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import {
  genlFamily,
  Netlink,
  NetlinkError,
  sysctlGet,
  sysctlSet,
  withNetns,
} from "../../ffi/mod.ts";
import { Netns } from "../harness/netns.ts";

const self = () => Deno.readLinkSync("/proc/thread-self/ns/net");

Deno.test("withNetns runs fn inside the namespace and restores the thread", async () => {
  await using ns = await Netns.create("setns");
  const before = self();
  const inside = withNetns(ns.path, () => self());
  assertNotEquals(inside, before);
  assertEquals(inside, `net:[${Deno.statSync(ns.path).ino}]`);
  assertEquals(self(), before);
});

Deno.test("withNetns restores the original namespace when fn throws", async () => {
  await using ns = await Netns.create("throw");
  const before = self();
  assertThrows(
    () =>
      withNetns(ns.path, () => {
        throw new RangeError("boom");
      }),
    RangeError,
    "boom",
  );
  assertEquals(self(), before);
});

Deno.test("withNetns refuses an async function and a missing namespace", async () => {
  await using ns = await Netns.create("async");
  const before = self();
  assertThrows(
    () => withNetns(ns.path, async () => {}),
    TypeError,
    "synchronous",
  );
  assertEquals(self(), before);
  const e = assertThrows(
    () => withNetns("/run/netns/weft-t-missing", () => 1),
    NetlinkError,
  );
  assertEquals(e.code, "ENOENT");
});

Deno.test("Netlink.open({netns}) works in the namespace while the thread stays home", async () => {
  await using ns = await Netns.create("open");
  const before = self();
  using nl = Netlink.open({ netns: ns.path });
  assertEquals(self(), before);
  nl.linkAdd({ name: "inside0", kind: "ifb" });
  assertEquals((await ns.run(["ip", "link", "show", "inside0"])).code, 0);
  using host = Netlink.open();
  assertEquals(host.linkGet("inside0"), null);
});

Deno.test("sysctlSet/sysctlGet inside a namespace leave the host value alone", async () => {
  // arp_announce: per-namespace, and nothing else in weft's tests touches it
  // on the host (ip_forward could be flipped by a parallel CNI test).
  const key = "net.ipv4.conf.all.arp_announce";
  const file = "/proc/sys/net/ipv4/conf/all/arp_announce";
  await using ns = await Netns.create("sysctl");
  const host = Deno.readTextFileSync(file).trim();
  const other = host === "2" ? "1" : "2";
  sysctlSet(key, other, { netns: ns.path });
  assertEquals(sysctlGet(key, { netns: ns.path }), other);
  assertEquals((await ns.sh("cat", file)).trim(), other);
  assertEquals(Deno.readTextFileSync(file).trim(), host);
  assertEquals(sysctlGet(key), host);
});

Deno.test("sysctl keys in slash form reach per-interface entries with dots in the name", async () => {
  await using ns = await Netns.create("sysdot");
  await ns.sh(
    "ip",
    "link",
    "add",
    "flannel.1",
    "type",
    "vxlan",
    "id",
    "1",
    "dstport",
    "8472",
  );
  sysctlSet("net/ipv4/conf/flannel.1/rp_filter", "2", { netns: ns.path });
  assertEquals(
    (await ns.sh("cat", "/proc/sys/net/ipv4/conf/flannel.1/rp_filter")).trim(),
    "2",
  );
  assertEquals(
    sysctlGet("net/ipv4/conf/flannel.1/rp_filter", { netns: ns.path }),
    "2",
  );
});

Deno.test("sysctl errors are typed: missing key ENOENT, bad key TypeError", () => {
  assertEquals(
    assertThrows(() => sysctlGet("net.ipv4.no_such_key"), NetlinkError).code,
    "ENOENT",
  );
  assertThrows(
    () => sysctlGet("net/../../etc/passwd"),
    TypeError,
    "invalid sysctl key",
  );
});

Deno.test("genlFamily resolves generic netlink families through libnl-genl", async () => {
  await using ns = await Netns.create("genl");
  assertEquals(genlFamily("nlctrl", { netns: ns.path }), 0x10);
  assertEquals(genlFamily("weft-no-such-family"), null);
});
