// ip-masq and forward rules with flannel's chains, rules and comments:
// iptables through `iptables-restore --noflush` (our chains are declared, so
// each apply flushes and rebuilds them: rules of an old network or subnet
// cannot survive), or nftables tables flannel-ipv4 / flannel-ipv6. ensure()
// compares what is installed with what should be and rebuilds on any
// difference; check() is the cheap probe run often (the jump rules with
// `iptables -C`, or a listing of weft's own nft table).

import type { CIDR } from "../net/mod.ts";
import { Iptables, Nft, type TableRules } from "../net/netfilter/mod.ts";

export const POSTRTG_CHAIN = "FLANNEL-POSTRTG";
export const FWD_CHAIN = "FLANNEL-FWD";
const MASQ_COMMENT = "flanneld masq";
const FWD_COMMENT = "flanneld forward";
const KUBE_PROXY_MARK = "0x4000/0x4000";

/** What the rules are made of, for one address family. */
export interface RuleInput {
  family: 4 | 6;
  /** Cluster CIDR (net-conf Network / IPv6Network). */
  network: CIDR;
  /** This node's pod subnet; null when only forward rules are wanted. */
  podCIDR: CIDR | null;
}

const comment = (c: string) => ["-m", "comment", "--comment", c];

/** FLANNEL-POSTRTG's rule specs (without `-A FLANNEL-POSTRTG`). */
export function masqRules(input: RuleInput): string[][] {
  const cc = input.network.network().toString();
  const pc = input.podCIDR!.network().toString();
  const multicast = input.family === 4 ? "224.0.0.0/4" : "ff00::/8";
  const c = comment(MASQ_COMMENT);
  return [
    ["-m", "mark", "--mark", KUBE_PROXY_MARK, ...c, "-j", "RETURN"],
    ["-s", pc, "-d", cc, ...c, "-j", "RETURN"],
    ["-s", cc, "-d", pc, ...c, "-j", "RETURN"],
    ["!", "-s", cc, "-d", pc, ...c, "-j", "RETURN"],
    [
      "-s",
      cc,
      "!",
      "-d",
      multicast,
      ...c,
      "-j",
      "MASQUERADE",
      "--random-fully",
    ],
    ["!", "-s", cc, "-d", cc, ...c, "-j", "MASQUERADE", "--random-fully"],
  ];
}

/** FLANNEL-FWD's rule specs. */
export function forwardRules(input: RuleInput): string[][] {
  const net = input.network.network().toString();
  const c = comment(FWD_COMMENT);
  return [
    ["-s", net, ...c, "-j", "ACCEPT"],
    ["-d", net, ...c, "-j", "ACCEPT"],
  ];
}

export const MASQ_JUMP = [...comment(MASQ_COMMENT), "-j", POSTRTG_CHAIN];
export const FWD_JUMP = [...comment(FWD_COMMENT), "-j", FWD_CHAIN];

/** The rule sets (nat, filter) that make the installed rules right. */
export function ruleSets(
  input: RuleInput,
  opts: { masq: boolean; haveMasqJump: boolean; haveFwdJump: boolean },
): TableRules[] {
  const sets: TableRules[] = [];
  if (opts.masq && input.podCIDR) {
    sets.push({
      table: "nat",
      chains: [POSTRTG_CHAIN],
      rules: [
        ...(opts.haveMasqJump ? [] : [["-A", "POSTROUTING", ...MASQ_JUMP]]),
        ...masqRules(input).map((r) => ["-A", POSTRTG_CHAIN, ...r]),
      ],
    });
  }
  sets.push({
    table: "filter",
    chains: [FWD_CHAIN],
    rules: [
      ...(opts.haveFwdJump ? [] : [["-A", "FORWARD", ...FWD_JUMP]]),
      ...forwardRules(input).map((r) => ["-A", FWD_CHAIN, ...r]),
    ],
  });
  return sets;
}

const same = (a: string[], b: string[]) => a.join("\0") === b.join("\0");

/** Rules of one family, kept in place by `ensure()` (iptables). */
export class IptablesRules {
  #ipt: Iptables;
  #input: RuleInput;
  #masq: boolean;

  constructor(input: RuleInput, opts: { masq: boolean; netns?: string }) {
    this.#input = input;
    this.#masq = opts.masq;
    this.#ipt = new Iptables({ family: input.family, netns: opts.netns });
  }

  /** Installs or repairs the rules; returns true when it had to write. */
  async ensure(): Promise<boolean> {
    const nat = await this.#ipt.table("nat");
    const filter = await this.#ipt.table("filter");
    const spec = (t: typeof nat, chain: string) =>
      t.rules.filter((r) => r.chain === chain).map((r) => r.spec);
    const has = (t: typeof nat, chain: string, want: string[]) =>
      spec(t, chain).some((s) => same(s, want));
    const eq = (got: string[][], want: string[][]) =>
      got.length === want.length && got.every((s, i) => same(s, want[i]));
    const haveMasqJump = has(nat, "POSTROUTING", MASQ_JUMP);
    const haveFwdJump = has(filter, "FORWARD", FWD_JUMP);
    const masqOk = !this.#masq || !this.#input.podCIDR || (haveMasqJump &&
      eq(spec(nat, POSTRTG_CHAIN), masqRules(this.#input)));
    const fwdOk = haveFwdJump &&
      eq(spec(filter, FWD_CHAIN), forwardRules(this.#input));
    if (masqOk && fwdOk) return false;
    await this.#ipt.restore(
      ruleSets(this.#input, { masq: this.#masq, haveMasqJump, haveFwdJump }),
    );
    return true;
  }

  /**
   * The cheap check: are the jumps into our chains there (`iptables -C`,
   * no table dump)? A chain emptied by hand is found by ensure().
   */
  async check(): Promise<boolean> {
    if (
      this.#masq && this.#input.podCIDR &&
      !(await this.#ipt.ruleExists("nat", "POSTROUTING", MASQ_JUMP))
    ) {
      return false;
    }
    return await this.#ipt.ruleExists("filter", "FORWARD", FWD_JUMP);
  }

  /** Removes flannel's chains and jumps from this family's tables. */
  async remove(): Promise<void> {
    await this.#ipt.removeChain("nat", POSTRTG_CHAIN);
    await this.#ipt.removeChain("filter", FWD_CHAIN);
  }
}

/** nftables table name of a family. */
export function nftTable(family: 4 | 6): string {
  return family === 4 ? "flannel-ipv4" : "flannel-ipv6";
}

/** The nft script that (re)creates flannel's table atomically. */
export function nftScript(input: RuleInput, masq: boolean): string {
  const fam = input.family === 4 ? "ip" : "ip6";
  const table = nftTable(input.family);
  const cc = input.network.network().toString();
  const multicast = input.family === 4 ? "224.0.0.0/4" : "ff00::/8";
  const lines = [
    `table ${fam} ${table}`,
    `delete table ${fam} ${table}`,
    `table ${fam} ${table} {`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    ${fam} saddr ${cc} accept`,
    `    ${fam} daddr ${cc} accept`,
    `  }`,
  ];
  if (masq && input.podCIDR) {
    const pc = input.podCIDR.network().toString();
    lines.push(
      `  chain postrtg {`,
      `    type nat hook postrouting priority srcnat; policy accept;`,
      `    meta mark & 0x4000 == 0x4000 return`,
      `    ${fam} saddr ${pc} ${fam} daddr ${cc} return`,
      `    ${fam} saddr ${cc} ${fam} daddr ${pc} return`,
      `    ${fam} saddr != ${cc} ${fam} daddr ${pc} return`,
      `    ${fam} saddr ${cc} ${fam} daddr != ${multicast} masquerade fully-random`,
      `    ${fam} saddr != ${cc} ${fam} daddr ${cc} masquerade fully-random`,
      `  }`,
    );
  }
  lines.push(`}`);
  return lines.join("\n") + "\n";
}

/** Rules of one family as an nftables table, kept in place by `ensure()`. */
export class NftRules {
  #nft: Nft;
  #input: RuleInput;
  #masq: boolean;
  #installed: string | null = null;

  constructor(input: RuleInput, opts: { masq: boolean; netns?: string }) {
    this.#input = input;
    this.#masq = opts.masq;
    this.#nft = new Nft({ netns: opts.netns });
  }

  async #listing(): Promise<string | null> {
    const fam = this.#input.family === 4 ? "ip" : "ip6";
    const table = nftTable(this.#input.family);
    if (!(await this.#nft.tableExists(fam, table))) return null;
    return JSON.stringify(await this.#nft.list(["table", fam, table]));
  }

  /** The cheap check: our own table (only it is listed) is as installed. */
  async check(): Promise<boolean> {
    const now = await this.#listing();
    return now !== null && now === this.#installed;
  }

  async ensure(): Promise<boolean> {
    const now = await this.#listing();
    if (now !== null && now === this.#installed) return false;
    await this.#nft.apply(nftScript(this.#input, this.#masq));
    this.#installed = await this.#listing();
    return true;
  }

  async remove(): Promise<void> {
    const fam = this.#input.family === 4 ? "ip" : "ip6";
    await this.#nft.deleteTable(fam, nftTable(this.#input.family));
  }
}

/** Removes rules of the mode not in use (a switch between iptables and nft). */
export async function removeOtherMode(
  nftables: boolean,
  families: (4 | 6)[],
  netns?: string,
): Promise<void> {
  for (const family of families) {
    if (nftables) {
      const ipt = new Iptables({ family, netns });
      await ipt.removeChain("nat", POSTRTG_CHAIN);
      await ipt.removeChain("filter", FWD_CHAIN);
    } else {
      const nft = new Nft({ netns });
      await nft.deleteTable(family === 4 ? "ip" : "ip6", nftTable(family));
    }
  }
}
