// portmap's iptables backend: the reference's shared chains
// (CNI-HOSTPORT-DNAT/-SETMARK/-MASQ) and one CNI-DN-<hash> chain per
// container, all in the nat table.

import type { CIDR } from "../../net/mod.ts";
import {
  hashedChainName,
  type IpFamily,
  Iptables,
} from "../../net/netfilter/mod.ts";
import type { PortmapConf } from "./config.ts";

export const DNAT_CHAIN = "CNI-HOSTPORT-DNAT";
export const SETMARK_CHAIN = "CNI-HOSTPORT-SETMARK";
export const MASQ_CHAIN = "CNI-HOSTPORT-MASQ";

/** CNI-DN- + 21 hex of sha512(network + container id). */
export function dnChain(network: string, containerId: string) {
  return hashedChainName("CNI-DN-", network + containerId, 21);
}

export function dnComment(network: string, containerId: string): string {
  return `dnat name: "${network}" id: "${containerId}"`.slice(0, 256);
}

function markDef(bit: number): string {
  const v = (1 << bit) >>> 0;
  return `0x${v.toString(16)}/0x${v.toString(16)}`;
}

/** Multiport accepts at most 15 ports per rule. */
function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

interface DnRules {
  entries: string[][];
  rules: string[][];
}

function dnatRules(conf: PortmapConf, c: CIDR, comment: string): DnRules {
  const v6 = c.ip.family === 6;
  const setMark = conf.externalSetMarkChain ?? SETMARK_CHAIN;
  const conditions = v6 ? conf.conditionsV6 : conf.conditionsV4;
  const byProto = new Map<string, number[]>();
  for (const m of conf.mappings) {
    const ports = byProto.get(m.protocol) ?? [];
    if (!ports.includes(m.hostPort)) ports.push(m.hostPort);
    byProto.set(m.protocol, ports);
  }
  const entries: string[][] = [];
  for (const proto of [...byProto.keys()].sort()) {
    for (const ports of chunks(byProto.get(proto)!, 15)) {
      entries.push([
        "-m",
        "comment",
        "--comment",
        comment,
        "-m",
        "multiport",
        "-p",
        proto,
        "--destination-ports",
        ports.join(","),
        ...conditions,
      ]);
    }
  }
  const rules: string[][] = [];
  for (const m of conf.mappings) {
    let dst: string[] = [];
    if (m.hostIP) {
      const hostV6 = m.hostIP.includes(":");
      if (hostV6 !== v6) continue;
      if (m.hostIP !== "0.0.0.0" && m.hostIP !== "::") dst = ["-d", m.hostIP];
    }
    const base = ["-p", m.protocol, "--dport", String(m.hostPort), ...dst];
    if (conf.snat) {
      const masq = conf.masqAll ? (v6 ? "::/0" : "0.0.0.0/0") : c.toString();
      rules.push([...base, "-s", masq, "-j", setMark]);
      if (!v6 && !conf.masqAll) {
        rules.push([...base, "-s", "127.0.0.1", "-j", setMark]);
      }
    }
    const to = v6
      ? `[${c.ip}]:${m.containerPort}`
      : `${c.ip}:${m.containerPort}`;
    rules.push([...base, "-j", "DNAT", "--to-destination", to]);
  }
  return { entries, rules };
}

/** Installs the mappings of `conf` for container address `c`. */
export async function forwardIptables(
  conf: PortmapConf,
  c: CIDR,
  containerId: string,
): Promise<void> {
  const ipt = new Iptables({ family: c.ip.family as IpFamily });
  const network = conf.net.name;
  const chain = await dnChain(network, containerId);
  const comment = dnComment(network, containerId);
  const mark = markDef(conf.markMasqBit);

  if (conf.snat && !conf.externalSetMarkChain) {
    await ipt.ensureChain("nat", SETMARK_CHAIN);
    await ipt.appendUnique("nat", SETMARK_CHAIN, [
      "-m",
      "comment",
      "--comment",
      "CNI portfwd masquerade mark",
      "-j",
      "MARK",
      "--set-xmark",
      mark,
    ]);
    await ipt.ensureChain("nat", MASQ_CHAIN);
    await ipt.appendUnique("nat", MASQ_CHAIN, [
      "-m",
      "mark",
      "--mark",
      mark,
      "-j",
      "MASQUERADE",
    ]);
    await ipt.insertUnique("nat", "POSTROUTING", [
      "-m",
      "comment",
      "--comment",
      "CNI portfwd requiring masquerade",
      "-j",
      MASQ_CHAIN,
    ]);
  }
  await ipt.ensureChain("nat", DNAT_CHAIN);
  for (const entry of ["PREROUTING", "OUTPUT"]) {
    await ipt.appendUnique("nat", entry, [
      "-m",
      "addrtype",
      "--dst-type",
      "LOCAL",
      "-j",
      DNAT_CHAIN,
    ]);
  }
  // A stale chain of this container (a repeated ADD) goes first.
  await ipt.removeChain("nat", chain);
  const { entries, rules } = dnatRules(conf, c, comment);
  await ipt.restore([{
    table: "nat",
    chains: [chain],
    rules: rules.map((r) => ["-A", chain, ...r]),
  }]);
  // Prepended as a block (in order), so the newest container using a host
  // port wins without moving CNI-HOSTPORT-DNAT itself.
  for (const e of [...entries].reverse()) {
    await ipt.insertUnique("nat", DNAT_CHAIN, [...e, "-j", chain]);
  }
}

/** True when every rule ADD made for `c` is present. */
export async function checkIptables(
  conf: PortmapConf,
  c: CIDR,
  containerId: string,
): Promise<string | null> {
  const ipt = new Iptables({ family: c.ip.family as IpFamily });
  const chain = await dnChain(conf.net.name, containerId);
  if (!(await ipt.chainExists("nat", chain))) {
    return `chain ${chain} is missing`;
  }
  const { entries, rules } = dnatRules(
    conf,
    c,
    dnComment(conf.net.name, containerId),
  );
  for (const r of rules) {
    if (!(await ipt.ruleExists("nat", chain, r))) {
      return `rule "${r.join(" ")}" is missing from ${chain}`;
    }
  }
  for (const e of entries) {
    if (!(await ipt.ruleExists("nat", DNAT_CHAIN, [...e, "-j", chain]))) {
      return `entry rule to ${chain} is missing from ${DNAT_CHAIN}`;
    }
  }
  return null;
}

/** Removes the container's chain and its entry rules, both families. */
export async function unforwardIptables(
  network: string,
  containerId: string,
): Promise<void> {
  const chain = await dnChain(network, containerId);
  const old = await hashedChainName("CNI-SN-", network + containerId, 21);
  for (const family of [4, 6] as const) {
    const ipt = new Iptables({ family });
    if (!(await ipt.usable("nat"))) continue;
    await ipt.removeChains("nat", [chain, old]);
  }
}

/** Removes the chains of `network` whose container is not in `keep`. */
export async function gcIptables(
  network: string,
  keep: Set<string>,
): Promise<void> {
  const re = /^dnat name: "(.*)" id: "(.*)"$/;
  for (const family of [4, 6] as const) {
    const ipt = new Iptables({ family });
    if (!(await ipt.usable("nat"))) continue;
    const t = await ipt.table("nat");
    const doomed = new Set<string>();
    for (const r of t.rules) {
      if (r.chain !== DNAT_CHAIN) continue;
      const i = r.spec.indexOf("--comment");
      const m = i >= 0 ? re.exec(r.spec[i + 1]) : null;
      const j = r.spec.indexOf("-j");
      if (m && m[1] === network && !keep.has(m[2]) && j >= 0) {
        doomed.add(r.spec[j + 1]);
      }
    }
    if (doomed.size) await ipt.removeChains("nat", [...doomed]);
  }
}
