// Which netfilter API to use, as the reference plugins decide it: an
// explicit choice wins; otherwise iptables when it works (legacy or nft
// flavour), else nftables when the kernel/tool support it.

import { type NetfilterOptions, runTool } from "./_exec.ts";
import { NetfilterError } from "./errors.ts";

export type Backend = "iptables" | "nftables";

/** True when iptables can be used here (it can check filter/INPUT). */
export async function supportsIptables(
  opts: NetfilterOptions = {},
): Promise<boolean> {
  try {
    const r = await runTool(
      ["iptables", "-w", "5", "-t", "filter", "-S", "INPUT", "1"],
      opts,
    );
    return r.code === 0;
  } catch {
    return false;
  }
}

/** True when nftables can be used here (`nft list tables` works). */
export async function supportsNftables(
  opts: NetfilterOptions = {},
): Promise<boolean> {
  try {
    return (await runTool(["nft", "list", "tables"], opts)).code === 0;
  } catch {
    return false;
  }
}

/**
 * The backend to use: `requested` when given ("iptables" or "nftables";
 * anything else is an error), else iptables, else nftables.
 */
export async function chooseBackend(
  requested: unknown,
  opts: NetfilterOptions = {},
): Promise<Backend> {
  if (requested !== undefined && requested !== null && requested !== "") {
    if (requested === "iptables" || requested === "nftables") return requested;
    throw new RangeError(
      `unknown netfilter backend ${
        JSON.stringify(requested)
      }: use "iptables" or "nftables"`,
    );
  }
  if (await supportsIptables(opts)) return "iptables";
  if (await supportsNftables(opts)) return "nftables";
  throw new NetfilterError(
    "neither iptables nor nftables is usable (is the iptables or nft tool installed?)",
  );
}
