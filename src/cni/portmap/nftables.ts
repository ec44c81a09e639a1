// portmap's nftables backend: table cni_hostport (ip and ip6) with the
// reference's chains; every rule of a container carries its id as comment.

import type { CIDR } from "../../net/mod.ts";
import {
  Nft,
  type NftFamily,
  type NftRule,
  nftString,
} from "../../net/netfilter/mod.ts";
import type { PortmapConf } from "./config.ts";

export const NFT_TABLE = "cni_hostport";
const HOSTPORTS = "hostports";
const HOSTIP_HOSTPORTS = "hostip_hostports";
const MASQUERADING = "masquerading";

function familyOf(c: CIDR): NftFamily {
  return c.ip.family === 6 ? "ip6" : "ip";
}

/** Installs the mappings of `conf` for the container's addresses: one `nft -f -`. */
export async function forwardNftables(
  conf: PortmapConf,
  addrs: CIDR[],
  containerId: string,
): Promise<void> {
  const lines = addrs.flatMap((c) => forwardLines(conf, c, containerId));
  if (lines.length) await new Nft().apply(lines.join("\n") + "\n");
}

/** The nft script lines installing the mappings for container address `c`. */
function forwardLines(
  conf: PortmapConf,
  c: CIDR,
  containerId: string,
): string[] {
  const v6 = c.ip.family === 6;
  const fam = familyOf(c);
  const ipX = v6 ? "ip6" : "ip";
  const cond = (v6 ? conf.conditionsV6 : conf.conditionsV4).join(" ");
  const pre = cond ? `${cond} ` : "";
  const t = `${fam} ${NFT_TABLE}`;
  const comment = `comment ${nftString(containerId)}`;
  const lines = [
    `add table ${t} { comment "CNI portmap plugin"; }`,
    `add chain ${t} ${HOSTPORTS}`,
    `add chain ${t} ${HOSTIP_HOSTPORTS}`,
    `add chain ${t} prerouting { type nat hook prerouting priority -100; }`,
    `flush chain ${t} prerouting`,
    `add rule ${t} prerouting ${pre}jump ${HOSTIP_HOSTPORTS}`,
    `add rule ${t} prerouting ${pre}jump ${HOSTPORTS}`,
    `add chain ${t} output { type nat hook output priority -100; }`,
    `flush chain ${t} output`,
    `add rule ${t} output ${pre}jump ${HOSTIP_HOSTPORTS}`,
    `add rule ${t} output ${pre}fib daddr type local jump ${HOSTPORTS}`,
  ];
  if (conf.snat) {
    lines.push(
      `add chain ${t} ${MASQUERADING} { type nat hook postrouting priority srcnat; }`,
    );
  }
  const dest = (p: number) => v6 ? `[${c.ip}]:${p}` : `${c.ip}:${p}`;
  for (const m of conf.mappings) {
    let hostIP: string | undefined;
    if (m.hostIP) {
      if (m.hostIP.includes(":") !== v6) continue;
      if (m.hostIP !== "0.0.0.0" && m.hostIP !== "::") hostIP = m.hostIP;
    }
    const rule = `${m.protocol} dport ${m.hostPort} dnat to ${
      dest(m.containerPort)
    } ${comment}`;
    lines.push(
      hostIP
        ? `add rule ${t} ${HOSTIP_HOSTPORTS} ${ipX} daddr ${hostIP} ${rule}`
        : `add rule ${t} ${HOSTPORTS} ${rule}`,
    );
  }
  if (conf.snat) {
    lines.push(
      `add rule ${t} ${MASQUERADING} ${ipX} saddr ${c.ip} ${ipX} daddr ${c.ip} masquerade ${comment}`,
    );
    if (!v6) {
      lines.push(
        `add rule ${t} ${MASQUERADING} ${ipX} saddr 127.0.0.1 ${ipX} daddr ${c.ip} masquerade ${comment}`,
      );
    }
  }
  return lines;
}

/** A description of what is missing, or null when all rules are there. */
export async function checkNftables(
  conf: PortmapConf,
  c: CIDR,
  containerId: string,
): Promise<string | null> {
  const fam = familyOf(c);
  const rules = (await new Nft().rules(fam, NFT_TABLE))
    .filter((r) => r.comment === containerId);
  const count = (chain: string) =>
    rules.filter((r) => r.chain === chain).length;
  const withIP = conf.mappings.filter((m) => m.hostIP).length;
  const without = conf.mappings.length - withIP;
  if (count(HOSTPORTS) < without) {
    return `missing hostport rules in "${HOSTPORTS}" chain`;
  }
  if (count(HOSTIP_HOSTPORTS) < withIP) {
    return `missing hostport rules in "${HOSTIP_HOSTPORTS}" chain`;
  }
  if (conf.snat && count(MASQUERADING) < (c.ip.family === 4 ? 2 : 1)) {
    return `missing hostport rules in "${MASQUERADING}" chain`;
  }
  return null;
}

/**
 * Removes every rule of the container from both families' tables: one
 * listing of the ruleset, then (when something is there) one `nft -f -`.
 */
export async function unforwardNftables(containerId: string): Promise<void> {
  const nft = new Nft();
  const doomed = (await nft.list(["ruleset"]))
    .filter((o) => "rule" in o)
    .map((o) => o.rule as unknown as NftRule)
    .filter((r) =>
      r.table === NFT_TABLE && r.comment === containerId &&
      (r.family === "ip" || r.family === "ip6")
    );
  if (doomed.length === 0) return;
  await nft.apply(
    doomed.map((r) =>
      `delete rule ${r.family} ${NFT_TABLE} ${r.chain} handle ${r.handle}\n`
    ).join(""),
  );
}
