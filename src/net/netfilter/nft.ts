// nftables through the `nft` tool: JSON listing (`nft -j list ...`) and
// atomic script application (`nft -f -`), optionally inside a netns.

import { mustRun, type NetfilterOptions, runTool } from "./_exec.ts";
import { NetfilterError } from "./errors.ts";

/** nft address families. */
export type NftFamily = "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev";

/** One object of `nft -j` output (`{table: {...}}`, `{rule: {...}}`, ...). */
export type NftObject = Record<string, Record<string, unknown>>;

export interface NftRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  expr?: unknown[];
}

export class Nft {
  readonly netns?: string;

  constructor(opts: NetfilterOptions = {}) {
    this.netns = opts.netns;
  }

  /** `nft -j list <what...>`: the objects listed (metainfo dropped). */
  async list(what: string[] = ["ruleset"]): Promise<NftObject[]> {
    const out = await mustRun(["nft", "-j", "list", ...what], {
      netns: this.netns,
    });
    if (out.trim() === "") return [];
    let doc: { nftables?: NftObject[] };
    try {
      doc = JSON.parse(out);
    } catch (err) {
      throw new NetfilterError(
        `nft -j list ${what.join(" ")}: unparsable output`,
        ["nft", "-j", "list", ...what],
        0,
        "",
        { cause: err },
      );
    }
    return (doc.nftables ?? []).filter((o) => !("metainfo" in o));
  }

  /** Applies a script with `nft -f -` (atomically). */
  async apply(script: string): Promise<void> {
    await mustRun(["nft", "-f", "-"], { netns: this.netns, stdin: script });
  }

  /**
   * Applies JSON commands (`[{add: {table: ...}}, {delete: {rule: ...}}]`)
   * with `nft -j -f -`, atomically; names need no quoting this way.
   */
  async applyJson(commands: Record<string, unknown>[]): Promise<void> {
    if (commands.length === 0) return;
    await mustRun(["nft", "-j", "-f", "-"], {
      netns: this.netns,
      stdin: JSON.stringify({ nftables: commands }),
    });
  }

  /** True when the table exists. */
  async tableExists(family: NftFamily, table: string): Promise<boolean> {
    const r = await runTool(["nft", "list", "table", family, table], {
      netns: this.netns,
    });
    return r.code === 0;
  }

  /** Deletes a table; a missing table is fine. */
  async deleteTable(family: NftFamily, table: string): Promise<void> {
    if (!(await this.tableExists(family, table))) return;
    await this.apply(`delete table ${family} ${table}\n`);
  }

  /** The rules of a chain (or of the whole table), with handle and comment. */
  async rules(
    family: NftFamily,
    table: string,
    chain?: string,
  ): Promise<NftRule[]> {
    if (!(await this.tableExists(family, table))) return [];
    const objs = await this.list(["table", family, table]);
    return objs
      .filter((o) => "rule" in o)
      .map((o) => o.rule as unknown as NftRule)
      .filter((r) => chain === undefined || r.chain === chain);
  }

  /** Deletes every rule of `table` whose comment is `comment`; returns how many. */
  async deleteRulesByComment(
    family: NftFamily,
    table: string,
    comment: string,
  ): Promise<number> {
    const doomed = (await this.rules(family, table))
      .filter((r) => r.comment === comment);
    if (doomed.length === 0) return 0;
    await this.apply(
      doomed.map((r) =>
        `delete rule ${family} ${table} ${r.chain} handle ${r.handle}\n`
      ).join(""),
    );
    return doomed.length;
  }
}

/** Quotes a string for an nft script (comments). */
export function nftString(s: string): string {
  if (/["\n]/.test(s)) {
    throw new RangeError(`nft string may not contain quotes or newlines: ${s}`);
  }
  return `"${s}"`;
}
