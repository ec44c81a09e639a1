// portmap's iptables backend: the reference's shared chains
// (CNI-HOSTPORT-DNAT/-SETMARK/-MASQ) and one CNI-DN-<hash> chain per
// container, all in the nat table.

import type { CIDR } from "../../net/mod.ts";
import {
  hashedChainName,
  type IpFamily,
  Iptables,
  joinArgs,
  jumpTarget,
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

/** The entry rules from CNI-HOSTPORT-DNAT (without `-j <chain>`). */
function entryRules(
  conf: PortmapConf,
  family: IpFamily,
  comment: string,
): string[][] {
  const conditions = family === 6 ? conf.conditionsV6 : conf.conditionsV4;
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
  return entries;
}

function dnatRules(conf: PortmapConf, c: CIDR, comment: string): DnRules {
  const v6 = c.ip.family === 6;
  const setMark = conf.externalSetMarkChain ?? SETMARK_CHAIN;
  const entries = entryRules(conf, c.ip.family as IpFamily, comment);
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

/** The shared rules every portmap container relies on. */
function scaffold(conf: PortmapConf) {
  const mark = markDef(conf.markMasqBit);
  return {
    snat: conf.snat && !conf.externalSetMarkChain,
    setMark: [
      "-m",
      "comment",
      "--comment",
      "CNI portfwd masquerade mark",
      "-j",
      "MARK",
      "--set-xmark",
      mark,
    ],
    masq: ["-m", "mark", "--mark", mark, "-j", "MASQUERADE"],
    postJump: [
      "-m",
      "comment",
      "--comment",
      "CNI portfwd requiring masquerade",
      "-j",
      MASQ_CHAIN,
    ],
    dnatJump: ["-m", "addrtype", "--dst-type", "LOCAL", "-j", DNAT_CHAIN],
  };
}

/** The container's own chain and its entry rules, as restore lines. */
function containerLines(rules: DnRules, chain: string): string[][] {
  // Entries are prepended as a block (in order), so the newest container
  // using a host port wins without moving CNI-HOSTPORT-DNAT itself.
  return [
    ...rules.rules.map((r) => ["-A", chain, ...r]),
    ...[...rules.entries].reverse().map((e) => [
      "-I",
      DNAT_CHAIN,
      "1",
      ...e,
      "-j",
      chain,
    ]),
  ];
}

/**
 * Installs the mappings of `conf` for container address `c` with one
 * `iptables-restore --noflush`, assuming the shared chains are there: each
 * shared rule is deleted and added again in the same transaction, so a
 * missing one fails the whole restore (nothing applied) and the slow path
 * reads the table and builds what is missing (save + restore: 3 execs for
 * the first container of a host, 1 for every other).
 */
export async function forwardIptables(
  conf: PortmapConf,
  c: CIDR,
  containerId: string,
): Promise<void> {
  const ipt = new Iptables({ family: c.ip.family as IpFamily });
  const network = conf.net.name;
  const chain = await dnChain(network, containerId);
  const mine = dnatRules(conf, c, dnComment(network, containerId));
  const sc = scaffold(conf);
  const verify: string[][] = [];
  if (sc.snat) {
    verify.push(["-D", SETMARK_CHAIN, ...sc.setMark]);
    verify.push(["-A", SETMARK_CHAIN, ...sc.setMark]);
    verify.push(["-D", MASQ_CHAIN, ...sc.masq]);
    verify.push(["-A", MASQ_CHAIN, ...sc.masq]);
    verify.push(["-D", "POSTROUTING", ...sc.postJump]);
    verify.push(["-I", "POSTROUTING", "1", ...sc.postJump]);
  }
  for (const entry of ["PREROUTING", "OUTPUT"]) {
    verify.push(["-D", entry, ...sc.dnatJump]);
    verify.push(["-A", entry, ...sc.dnatJump]);
  }
  const fast = () =>
    ipt.restore([{
      table: "nat",
      chains: [chain],
      rules: [...verify, ...containerLines(mine, chain)],
    }]);
  // Something shared missing (first container, a flushed table) fails the
  // fast restore: build from what is there. Two first containers racing
  // both take the slow path; the loser's `-N` fails, and its second round
  // finds the chains.
  for (let round = 0;; round++) {
    try {
      return await fast();
    } catch {
      // fall through to the slow path
    }
    try {
      return await forwardFromSaved(ipt, conf, chain, mine);
    } catch (err) {
      if (round === 1) throw err;
    }
  }
}

/** The slow path of forwardIptables: one save, one restore. */
async function forwardFromSaved(
  ipt: Iptables,
  conf: PortmapConf,
  chain: string,
  mine: DnRules,
): Promise<void> {
  const t = await ipt.table("nat");
  const has = (ch: string, spec: string[]) =>
    t.rules.some((r) => r.chain === ch && joinArgs(r.spec) === joinArgs(spec));
  const sc = scaffold(conf);
  const lines: string[][] = [];
  const shared = sc.snat
    ? [SETMARK_CHAIN, MASQ_CHAIN, DNAT_CHAIN]
    : [DNAT_CHAIN];
  // Created with -N, never declared: declaring flushes a chain that another
  // ADD may have created (and filled) since the save.
  for (const ch of shared) if (!t.chains.has(ch)) lines.push(["-N", ch]);
  if (sc.snat) {
    if (!has(SETMARK_CHAIN, sc.setMark)) {
      lines.push(["-A", SETMARK_CHAIN, ...sc.setMark]);
    }
    if (!has(MASQ_CHAIN, sc.masq)) lines.push(["-A", MASQ_CHAIN, ...sc.masq]);
    if (!has("POSTROUTING", sc.postJump)) {
      lines.push(["-I", "POSTROUTING", "1", ...sc.postJump]);
    }
  }
  for (const entry of ["PREROUTING", "OUTPUT"]) {
    if (!has(entry, sc.dnatJump)) lines.push(["-A", entry, ...sc.dnatJump]);
  }
  // A stale chain of this container (a repeated ADD): its jumps go first.
  for (const r of t.rules) {
    if (r.chain !== chain && jumpTarget(r.spec) === chain) {
      lines.push(["-D", r.chain, ...r.spec]);
    }
  }
  await ipt.restore([{
    table: "nat",
    chains: [chain],
    rules: [...lines, ...containerLines(mine, chain)],
  }]);
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

/**
 * Removes the container's chain and its entry rules in the given families.
 * Fast path: one restore deleting the entries `conf`'s mappings made and
 * the chain; when that does not match what is there (mappings changed,
 * already removed, a family without a nat table), the table is read and
 * whatever jumps to the chain goes, with the chain.
 */
export async function unforwardIptables(
  conf: PortmapConf,
  containerId: string,
  families: IpFamily[],
): Promise<void> {
  const network = conf.net.name;
  const chain = await dnChain(network, containerId);
  const comment = dnComment(network, containerId);
  for (const family of families) {
    const ipt = new Iptables({ family });
    const entries = entryRules(conf, family, comment);
    try {
      await ipt.restore([{
        table: "nat",
        rules: [
          ...entries.map((e) => ["-D", DNAT_CHAIN, ...e, "-j", chain]),
          ["-F", chain],
          ["-X", chain],
        ],
      }]);
      continue;
    } catch {
      // fall through to the reading path
    }
    if (!(await ipt.usable("nat"))) continue;
    const old = await hashedChainName("CNI-SN-", network + containerId, 21);
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
