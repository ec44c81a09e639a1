// A parsed `iptables-save` dump: per table, its chains (with policy) and
// its rules in order.

import { splitArgs } from "./_quote.ts";

export interface SavedRule {
  chain: string;
  /** The rule spec without `-A <chain>`. */
  spec: string[];
}

export interface SavedTable {
  name: string;
  /** Chain name -> policy ("ACCEPT", "DROP" for built-ins, "-" for user chains). */
  chains: Map<string, string>;
  rules: SavedRule[];
}

/** Parses iptables-save output into tables. */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let cur: SavedTable | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      cur = { name: line.slice(1), chains: new Map(), rules: [] };
      tables.set(cur.name, cur);
    } else if (line === "COMMIT") {
      cur = undefined;
    } else if (cur && line.startsWith(":")) {
      const [name, policy] = line.slice(1).split(/\s+/);
      cur.chains.set(name, policy ?? "-");
    } else if (cur && line.startsWith("-A ")) {
      const args = splitArgs(line);
      cur.rules.push({ chain: args[1], spec: args.slice(2) });
    }
  }
  return tables;
}
