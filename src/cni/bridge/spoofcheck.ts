// macspoofchk: frames entering the bridge from a container's veth must
// carry the container's MAC. The reference's nftables layout (table bridge
// nat, base chain PREROUTING, chains cni-br-iface-<id>[-mac], comments
// macspoofchk-<id>, id = containerID-ifname), written as nft JSON.

import { Nft } from "../../net/netfilter/mod.ts";

const TABLE = "nat";
const BASE = "PREROUTING";

function ids(containerId: string, ifname: string) {
  const id = `${containerId}-${ifname}`;
  const iface = `cni-br-iface-${id}`;
  return { iface, mac: `${iface}-mac`, comment: `macspoofchk-${id}` };
}

const rule = (chain: string, expr: unknown[], comment: string) => ({
  rule: { family: "bridge", table: TABLE, chain, expr, comment },
});
const chain = (name: string, extra: Record<string, unknown> = {}) => ({
  chain: { family: "bridge", table: TABLE, name, ...extra },
});
const jump = (target: string) => ({ jump: { target } });

async function ownBaseRules(nft: Nft, comment: string) {
  return (await nft.rules("bridge", TABLE, BASE))
    .filter((r) => r.comment === comment)
    .map((r) => ({
      delete: {
        rule: { family: "bridge", table: TABLE, chain: BASE, handle: r.handle },
      },
    }));
}

/** Drops frames from `hostIf` whose source MAC is not `mac`. */
export async function setupSpoofCheck(
  hostIf: string,
  mac: string,
  containerId: string,
  ifname: string,
): Promise<void> {
  const nft = new Nft();
  const n = ids(containerId, ifname);
  await nft.applyJson([
    { add: { table: { family: "bridge", name: TABLE } } },
    {
      add: chain(BASE, {
        type: "filter",
        hook: "prerouting",
        prio: -300,
        policy: "accept",
      }),
    },
    { add: chain(n.iface) },
    { add: chain(n.mac) },
  ]);
  await nft.applyJson([
    ...(await ownBaseRules(nft, n.comment)),
    { flush: chain(n.iface) },
    { flush: chain(n.mac) },
    {
      add: rule(BASE, [
        {
          match: {
            op: "==",
            left: { meta: { key: "iifname" } },
            right: hostIf,
          },
        },
        jump(n.iface),
      ], n.comment),
    },
    { add: rule(n.iface, [jump(n.mac)], n.comment) },
    {
      add: rule(n.mac, [
        {
          match: {
            op: "==",
            left: { payload: { protocol: "ether", field: "saddr" } },
            right: mac,
          },
        },
        { return: null },
      ], n.comment),
    },
    { add: rule(n.mac, [{ drop: null }], n.comment) },
  ]);
}

/** Removes the attachment's jump rule and chains; missing ones are fine. */
export async function teardownSpoofCheck(
  containerId: string,
  ifname: string,
): Promise<void> {
  const nft = new Nft();
  if (!(await nft.tableExists("bridge", TABLE))) return;
  const n = ids(containerId, ifname);
  const names = new Set(
    (await nft.list(["table", "bridge", TABLE]))
      .filter((o) => "chain" in o)
      .map((o) => String(o.chain.name)),
  );
  const cmds: Record<string, unknown>[] = [
    ...(await ownBaseRules(nft, n.comment)),
  ];
  for (const c of [n.iface, n.mac]) {
    if (names.has(c)) cmds.push({ flush: chain(c) });
  }
  for (const c of [n.iface, n.mac]) {
    if (names.has(c)) cmds.push({ delete: chain(c) });
  }
  await nft.applyJson(cmds);
}

/** True when the attachment's rules are in place. */
export async function spoofCheckPresent(
  containerId: string,
  ifname: string,
): Promise<boolean> {
  const nft = new Nft();
  const n = ids(containerId, ifname);
  const rules = await nft.rules("bridge", TABLE);
  return rules.some((r) => r.chain === BASE && r.comment === n.comment) &&
    rules.filter((r) => r.chain === n.mac).length === 2;
}
