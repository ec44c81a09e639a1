// Masquerading of a container's traffic leaving its subnet (bridge ipMasq),
// with the reference plugins' iptables chains/comments and nftables table.

import { CIDR } from "../../net/mod.ts";
import {
  type Backend,
  hashedChainName,
  Iptables,
  Nft,
  type NftRule,
  nftString,
  supportsIptables,
  supportsNftables,
} from "../../net/netfilter/mod.ts";

export const NFT_TABLE = "cni_plugins_masquerade";
export const NFT_CHAIN = "masq_checks";
const NFT_COMMENT_MAX = 128;

/** The attachment a masquerade rule set belongs to. */
export interface MasqOwner {
  network: string;
  containerId: string;
  ifname: string;
}

/** iptables chain of an attachment: CNI- + 24 hex of sha512(network + id). */
export function masqChain(network: string, containerId: string) {
  return hashedChainName("CNI-", network + containerId, 24);
}

/** iptables comment of an attachment, as the reference writes it. */
export function masqComment(network: string, containerId: string): string {
  return `name: "${network}" id: "${containerId}"`;
}

async function hex16(s: string): Promise<string> {
  return await hashedChainName("", s, 16);
}

/** nftables rule comment: hash prefix, then a readable (truncated) tail. */
export async function nftMasqComment(o: MasqOwner): Promise<string> {
  const clean = (s: string) => s.replaceAll('"', "");
  const c = `${await hex16(o.network)}-${await hex16(
    o.ifname + ":" + o.containerId,
  )}, net: ${clean(o.network)}, if: ${clean(o.ifname)}, id: ${
    clean(o.containerId)
  }`;
  return c.slice(0, NFT_COMMENT_MAX);
}

/** Installs masquerading for `ips` (host address with prefix, "10.1.0.5/24"). */
export async function setupMasq(
  backend: Backend,
  ips: CIDR[],
  owner: MasqOwner,
): Promise<void> {
  if (ips.length === 0) return;
  if (backend === "nftables") return await setupNft(ips, owner);
  const chain = await masqChain(owner.network, owner.containerId);
  const comment = masqComment(owner.network, owner.containerId);
  for (const family of [4, 6] as const) {
    const mine = ips.filter((c) => c.ip.family === family);
    if (mine.length === 0) continue;
    const ipt = new Iptables({ family });
    const multicast = family === 4 ? "224.0.0.0/4" : "ff00::/8";
    const rules: string[][] = [];
    const jumps: string[][] = [];
    for (const c of mine) {
      const cm = ["-m", "comment", "--comment", comment];
      rules.push([
        "-A",
        chain,
        "-d",
        c.network().toString(),
        ...cm,
        "-j",
        "ACCEPT",
      ]);
      rules.push([
        "-A",
        chain,
        "!",
        "-d",
        multicast,
        ...cm,
        "-j",
        "MASQUERADE",
      ]);
      const host = `${c.ip}/${family === 4 ? 32 : 128}`;
      const jump = ["-s", host, ...cm, "-j", chain];
      if (!(await ipt.ruleExists("nat", "POSTROUTING", jump))) {
        jumps.push(["-A", "POSTROUTING", ...jump]);
      }
    }
    await ipt.restore([{
      table: "nat",
      chains: [chain],
      rules: [...rules, ...jumps],
    }]);
  }
}

async function setupNft(ips: CIDR[], owner: MasqOwner): Promise<void> {
  const nft = new Nft();
  const comment = await nftMasqComment(owner);
  const stale = await findNftRules(nft, comment.split(",")[0]);
  const t = `inet ${NFT_TABLE}`;
  const lines = [
    `add table ${t} { comment ${
      nftString(
        "Masquerading for plugins from github.com/containernetworking/plugins",
      )
    }; }`,
    `add chain ${t} ${NFT_CHAIN} { comment ${
      nftString(
        "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet",
      )
    }; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; }`,
    `flush chain ${t} postrouting`,
    `add rule ${t} postrouting ip daddr 224.0.0.0/4 return`,
    `add rule ${t} postrouting ip6 daddr ff00::/8 return`,
    `add rule ${t} postrouting goto ${NFT_CHAIN}`,
    ...stale.map((r) => `delete rule ${t} ${r.chain} handle ${r.handle}`),
  ];
  for (const c of ips) {
    const ip = c.ip.family === 4 ? "ip" : "ip6";
    lines.push(
      `add rule ${t} ${NFT_CHAIN} ${ip} saddr ${c.ip} ${ip} daddr != ${c.network()} masquerade comment ${
        nftString(comment)
      }`,
    );
  }
  await nft.apply(lines.join("\n") + "\n");
}

async function findNftRules(nft: Nft, prefix: string): Promise<NftRule[]> {
  const rules = await nft.rules("inet", NFT_TABLE, NFT_CHAIN);
  return rules.filter((r) => r.comment?.startsWith(prefix));
}

/**
 * Removes an attachment's masquerading from both backends. Needs no
 * addresses (chain and comments derive from the owner), so DEL works even
 * without a netns or prevResult.
 */
export async function teardownMasq(owner: MasqOwner): Promise<void> {
  const chain = await masqChain(owner.network, owner.containerId);
  if (await supportsIptables()) {
    await new Iptables({ family: 4 }).removeChain("nat", chain);
    const v6 = new Iptables({ family: 6 });
    if (await v6.usable("nat")) await v6.removeChain("nat", chain);
  }
  if (await supportsNftables()) {
    const nft = new Nft();
    const prefix = (await nftMasqComment(owner)).split(",")[0];
    const doomed = await findNftRules(nft, prefix);
    if (doomed.length) {
      await nft.apply(
        doomed.map((r) =>
          `delete rule inet ${NFT_TABLE} ${r.chain} handle ${r.handle}\n`
        ).join(""),
      );
    }
  }
}

/** Removes masquerading of `network` whose container is not in `valid`. */
export async function gcMasq(
  network: string,
  valid: { containerId: string; ifname: string }[],
): Promise<void> {
  const keepIds = new Set(valid.map((v) => v.containerId));
  const re = /^name: "(.*)" id: "(.*)"$/;
  if (await supportsIptables()) {
    for (const family of [4, 6] as const) {
      const ipt = new Iptables({ family });
      if (family === 6 && !(await ipt.usable("nat"))) continue;
      const t = await ipt.table("nat");
      const doomed = new Set<string>();
      for (const r of t.rules) {
        if (!/^CNI-[0-9a-f]{24}$/.test(r.chain)) continue;
        const i = r.spec.indexOf("--comment");
        const m = i >= 0 ? re.exec(r.spec[i + 1]) : null;
        if (m && m[1] === network && !keepIds.has(m[2])) doomed.add(r.chain);
      }
      if (doomed.size) await ipt.removeChains("nat", [...doomed]);
    }
  }
  if (await supportsNftables()) {
    const nft = new Nft();
    const netHash = await hex16(network);
    const keep = new Set<string>();
    for (const v of valid) {
      keep.add(await nftMasqComment({ network, ...v }));
    }
    const doomed = (await findNftRules(nft, netHash))
      .filter((r) => !keep.has(r.comment ?? ""));
    if (doomed.length) {
      await nft.apply(
        doomed.map((r) =>
          `delete rule inet ${NFT_TABLE} ${r.chain} handle ${r.handle}\n`
        ).join(""),
      );
    }
  }
}
