// What the VXLAN benchmarks share: an uplink and a flannel.1 of flannel's
// shape in a namespace, and iproute2 programming leases in batch mode.

import { type Netns, sh } from "../test/harness/netns.ts";

/** eth0 (a veth: this kernel may lack the dummy driver) with `addr`, up. */
export async function vethUplink(
  ns: Netns,
  addr: string,
  peer: string,
): Promise<void> {
  await ns.sh(
    "ip",
    "link",
    "add",
    "eth0",
    "type",
    "veth",
    "peer",
    "name",
    peer,
  );
  await ns.sh("ip", "addr", "add", addr, "dev", "eth0");
  await ns.sh("ip", "link", "set", "eth0", "up");
  await ns.sh("ip", "link", "set", peer, "up");
}

/** flannel.1 (VNI 1, port 8472, no learning) over eth0, with `addr`, up. */
export async function vxlanDevice(
  ns: Netns,
  local: string,
  addr: string,
): Promise<void> {
  await ns.sh(
    "ip",
    "link",
    "add",
    "flannel.1",
    "type",
    "vxlan",
    "id",
    "1",
    "local",
    local,
    "dev",
    "eth0",
    "dstport",
    "8472",
    "nolearning",
  );
  await ns.sh("ip", "addr", "add", addr, "dev", "flannel.1");
  await ns.sh("ip", "link", "set", "flannel.1", "up");
}

/** A remote lease as flannel's vxlan backend programs it. */
export interface VxlanEntry {
  /** The lease's subnet, routed onlink via `gw`. */
  cidr: string;
  /** The remote VTEP's overlay address (the subnet's network address). */
  gw: string;
  mac: string;
  /** The remote node's public IP, the FDB entry's dst. */
  dst: string;
}

/**
 * Programs the entries into flannel.1 with `ip -batch` (neighbours and
 * routes, interleaved per lease) and `bridge -batch` (FDB entries), batch
 * files written to `dir` first; returns the milliseconds the two processes
 * took, their start included.
 */
export async function iproute2Batch(
  ns: Netns,
  dir: string,
  entries: VxlanEntry[],
): Promise<number> {
  const ipFile = `${dir}/ip.batch`;
  const brFile = `${dir}/bridge.batch`;
  await Deno.writeTextFile(
    ipFile,
    entries.map((e) =>
      `neigh replace ${e.gw} lladdr ${e.mac} dev flannel.1 nud permanent\n` +
      `route replace ${e.cidr} via ${e.gw} dev flannel.1 onlink\n`
    ).join(""),
  );
  await Deno.writeTextFile(
    brFile,
    entries.map((e) =>
      `fdb replace ${e.mac} dev flannel.1 dst ${e.dst} self permanent\n`
    ).join(""),
  );
  const t0 = performance.now();
  await sh("ip", "-n", ns.name, "-batch", ipFile);
  await sh("bridge", "-n", ns.name, "-batch", brFile);
  return performance.now() - t0;
}
