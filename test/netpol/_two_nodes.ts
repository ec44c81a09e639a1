// Two test nodes whose host namespaces are linked by a veth "underlay"
// (192.168.50.0/24, fd50::/64) with routes to each other's pod subnets, so
// pod traffic between nodes is routed (the forward hook) as with host-gw.

import { PodNode } from "./_pods.ts";

export interface TwoNodes extends AsyncDisposable {
  n1: PodNode;
  n2: PodNode;
  /** Each node's underlay addresses. */
  ips: { n1: string[]; n2: string[] };
}

export async function twoNodes(tag: string): Promise<TwoNodes> {
  const n1 = await PodNode.create(`${tag}1`, {
    subnet4: "10.22.0.0/24",
    subnet6: "fd00:22::/64",
  });
  const n2 = await PodNode.create(`${tag}2`, {
    subnet4: "10.23.0.0/24",
    subnet6: "fd00:23::/64",
  });
  const dispose = async () => {
    await n2[Symbol.asyncDispose]();
    await n1[Symbol.asyncDispose]();
  };
  try {
    await n1.host.sh(
      "ip",
      "link",
      "add",
      "ul",
      "type",
      "veth",
      "peer",
      "name",
      "ul2",
    );
    await n1.host.sh("ip", "link", "set", "ul2", "netns", n2.host.name);
    await n2.host.sh("ip", "link", "set", "ul2", "name", "ul");
    for (
      const [n, me, peer, sub4, sub6] of [
        [n1, "1", "2", "10.23.0.0/24", "fd00:23::/64"],
        [n2, "2", "1", "10.22.0.0/24", "fd00:22::/64"],
      ] as const
    ) {
      await n.host.sh(
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.forwarding=1",
      );
      await n.host.sh("ip", "addr", "add", `192.168.50.${me}/24`, "dev", "ul");
      await n.host.sh(
        "ip",
        "addr",
        "add",
        `fd50::${me}/64`,
        "dev",
        "ul",
        "nodad",
      );
      await n.host.sh("ip", "link", "set", "ul", "up");
      await n.host.sh("ip", "route", "add", sub4, "via", `192.168.50.${peer}`);
      await n.host.sh("ip", "-6", "route", "add", sub6, "via", `fd50::${peer}`);
    }
  } catch (e) {
    await dispose();
    throw e;
  }
  return {
    n1,
    n2,
    ips: { n1: ["192.168.50.1", "fd50::1"], n2: ["192.168.50.2", "fd50::2"] },
    [Symbol.asyncDispose]: dispose,
  };
}
