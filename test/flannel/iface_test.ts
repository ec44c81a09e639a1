import { assertEquals, assertThrows } from "@std/assert";
import { Netlink } from "../../ffi/mod.ts";
import { FlannelError, selectInterface } from "../../src/flannel/mod.ts";
import { Underlay } from "./_underlay.ts";

Deno.test("selectInterface(): default-route interface, --flannel-iface by name or IP, --node-ip, external IP overwrite", async () => {
  await using u = await Underlay.create(1);
  const ns = u.nodes[0].ns;
  // A second uplink with its own address, larger MTU, no default route.
  await ns.sh(
    "ip",
    "link",
    "add",
    "eth1",
    "type",
    "veth",
    "peer",
    "name",
    "eth1p",
  );
  await ns.sh("ip", "link", "set", "eth1", "mtu", "9000");
  await ns.sh("ip", "addr", "add", "172.31.5.5/24", "dev", "eth1");
  await ns.sh("ip", "addr", "add", "172.31.6.6/24", "dev", "eth1");
  await ns.sh("ip", "link", "set", "eth1", "up");
  using nl = Netlink.open({ netns: ns.path });

  const def = selectInterface(nl, {});
  assertEquals([def.name, def.mtu, `${def.ifaceAddr}`, `${def.extAddr}`], [
    "eth0",
    1500,
    "192.168.77.1",
    "192.168.77.1",
  ]);
  assertEquals(def.overwrite, null);

  const byName = selectInterface(nl, { iface: "eth1" });
  assertEquals([byName.name, byName.mtu, `${byName.ifaceAddr}`], [
    "eth1",
    9000,
    "172.31.5.5",
  ]);

  const byIP = selectInterface(nl, { iface: "172.31.6.6" });
  assertEquals([byIP.name, `${byIP.ifaceAddr}`], ["eth1", "172.31.6.6"]);

  const byNodeIP = selectInterface(nl, { nodeIPs: ["172.31.6.6"] });
  assertEquals(
    [byNodeIP.name, `${byNodeIP.ifaceAddr}`, `${byNodeIP.extAddr}`],
    [
      "eth1",
      "172.31.6.6",
      "172.31.6.6",
    ],
  );

  const ext = selectInterface(nl, {
    nodeExternalIPs: ["203.0.113.7"],
    flannelExternalIP: true,
  });
  assertEquals(`${ext.overwrite}`, "203.0.113.7");
  assertEquals(`${ext.extAddr}`, "192.168.77.1");
  const noFlag = selectInterface(nl, { nodeExternalIPs: ["203.0.113.7"] });
  assertEquals(noFlag.overwrite, null);

  assertThrows(
    () => selectInterface(nl, { iface: "nope0" }),
    FlannelError,
    "no such interface",
  );
  assertThrows(
    () => selectInterface(nl, { iface: "10.9.9.9" }),
    FlannelError,
    "no such address",
  );
  assertThrows(
    () => selectInterface(nl, { nodeIPs: ["x"] }),
    FlannelError,
    "--node-ip",
  );

  await ns.sh("ip", "route", "del", "default");
  assertThrows(() => selectInterface(nl, {}), FlannelError, "no default route");
});
