// flannel.1 as iproute2 reads it, and stale entries planted on it, for the
// vxlan tests that verify the device independently of ffi/.

import type { Netns } from "../harness/netns.ts";

export type IpLink = {
  mtu: number;
  address: string;
  linkinfo: { info_kind: string; info_data: Record<string, unknown> };
};

/** flannel.1 as `ip -j -d link show` reads it. */
export async function flannelLink(ns: Netns): Promise<IpLink> {
  const [link] = await ns.json<IpLink[]>(
    "ip",
    "-j",
    "-d",
    "link",
    "show",
    "flannel.1",
  );
  return link;
}

/** flannel.1's IPv4 addresses as `ip -j -4 addr show` reads them ("a/n"). */
export async function flannelAddrs4(ns: Netns): Promise<string[]> {
  const addrs = await ns.json<
    { addr_info: { local: string; prefixlen: number }[] }[]
  >(
    "ip",
    "-j",
    "-4",
    "addr",
    "show",
    "dev",
    "flannel.1",
  );
  return addrs[0].addr_info.map((a) => `${a.local}/${a.prefixlen}`);
}

/**
 * Plants the three entries of a lease nobody holds on flannel.1 with
 * iproute2: an onlink route to `gw`/24 via `gw`, a permanent neighbour `gw`
 * at `mac`, and an FDB entry for `mac` towards `dst`.
 */
export async function plantStale(
  ns: Netns,
  gw: string,
  mac: string,
  dst: string,
): Promise<void> {
  await ns.sh(
    "ip",
    "route",
    "add",
    `${gw}/24`,
    "via",
    gw,
    "dev",
    "flannel.1",
    "onlink",
  );
  await ns.sh(
    "ip",
    "neigh",
    "add",
    gw,
    "lladdr",
    mac,
    "dev",
    "flannel.1",
    "nud",
    "permanent",
  );
  await ns.sh(
    "bridge",
    "fdb",
    "add",
    mac,
    "dev",
    "flannel.1",
    "dst",
    dst,
    "self",
    "permanent",
  );
}

/**
 * flannel.1's routes (`dst via gw`), neighbours (`ip mac`) and FDB entries
 * (`mac dst`), each sorted, as iproute2 reads them. With `missingAsEmpty` a
 * read that fails (the device is gone) counts as no entries.
 */
export async function overlayState(
  ns: Netns,
  opts: { missingAsEmpty?: boolean } = {},
): Promise<{ routes: string[]; neighs: string[]; fdb: string[] }> {
  const j = <T>(...cmd: string[]): Promise<T[]> => {
    const p = ns.json<T[]>(...cmd);
    return opts.missingAsEmpty ? p.catch(() => [] as T[]) : p;
  };
  return {
    routes: (await j<{ dst: string; gateway?: string }>(
      "ip",
      "-j",
      "route",
      "show",
      "dev",
      "flannel.1",
    )).map((r) => `${r.dst} via ${r.gateway}`).sort(),
    neighs: (await j<{ dst: string; lladdr: string }>(
      "ip",
      "-j",
      "neigh",
      "show",
      "dev",
      "flannel.1",
    )).map((n) => `${n.dst} ${n.lladdr}`).sort(),
    fdb: (await j<{ mac: string; dst?: string }>(
      "bridge",
      "-j",
      "fdb",
      "show",
      "dev",
      "flannel.1",
    )).map((f) => `${f.mac} ${f.dst}`).sort(),
  };
}
