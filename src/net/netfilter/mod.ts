// Netfilter seam: iptables/ip6tables (rule sets through iptables-restore
// --noflush, chain/rule checks, removal), nftables (nft -j list, nft -f -)
// and backend choice. Every entry point takes an optional netns path.

export { NetfilterError } from "./errors.ts";
export { type NetfilterOptions, runTool, type ToolResult } from "./_exec.ts";
export { joinArgs, quoteArg, splitArgs } from "./_quote.ts";
export { parseSave, type SavedRule, type SavedTable } from "./save.ts";
export {
  type IpFamily,
  Iptables,
  jumpTarget,
  renderRestore,
  type TableRules,
} from "./iptables.ts";
export {
  Nft,
  type NftFamily,
  type NftObject,
  type NftRule,
  nftString,
} from "./nft.ts";
export {
  type Backend,
  chooseBackend,
  supportsIptables,
  supportsNftables,
} from "./backend.ts";
export { hashedChainName } from "./names.ts";
export { conntrackDeletePort } from "./conntrack.ts";
