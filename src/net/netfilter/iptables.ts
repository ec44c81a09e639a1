// iptables / ip6tables through their command-line tools (always with -w, the
// xtables lock wait), optionally inside a network namespace. Rule sets are
// applied atomically per table with `iptables-restore --noflush`.

import { joinArgs } from "./_quote.ts";
import { mustRun, type NetfilterOptions, runTool } from "./_exec.ts";
import { NetfilterError } from "./errors.ts";
import { parseSave, type SavedTable } from "./save.ts";

export type IpFamily = 4 | 6;

/** Seconds to wait for the xtables lock. */
const LOCK_WAIT = "5";

/**
 * The rules of one table for `iptables-restore --noflush`.
 *
 * `chains` are declared (`:NAME - [0:0]`): each is created when missing and
 * FLUSHED when present, so list a chain there only when `rules` define it
 * completely. Built-in and other existing chains are appended to by naming
 * them in `-A` rules without declaring them.
 */
export interface TableRules {
  table: string;
  chains?: string[];
  /** Full rule lines as arguments: `["-A", "CNI-X", "-d", "10.0.0.0/24", "-j", "ACCEPT"]`. */
  rules?: string[][];
}

/** Renders table rule sets as iptables-restore input. */
export function renderRestore(tables: TableRules[]): string {
  const lines: string[] = [];
  for (const t of tables) {
    lines.push(`*${t.table}`);
    for (const c of t.chains ?? []) lines.push(`:${c} - [0:0]`);
    for (const r of t.rules ?? []) lines.push(joinArgs(r));
    lines.push("COMMIT");
  }
  return lines.join("\n") + "\n";
}

/** One address family's iptables (4) or ip6tables (6), in one netns. */
export class Iptables {
  readonly family: IpFamily;
  readonly netns?: string;

  constructor(opts: NetfilterOptions & { family?: IpFamily } = {}) {
    this.family = opts.family ?? 4;
    this.netns = opts.netns;
  }

  get #bin(): string {
    return this.family === 6 ? "ip6tables" : "iptables";
  }

  get #opts(): NetfilterOptions {
    return { netns: this.netns };
  }

  /** Runs `iptables -w <args>`; throws on a non-zero exit; returns stdout. */
  exec(args: string[]): Promise<string> {
    return mustRun([this.#bin, "-w", LOCK_WAIT, ...args], this.#opts);
  }

  /** Applies rule sets with `iptables-restore --noflush` (atomic per table). */
  async restore(tables: TableRules[]): Promise<void> {
    if (tables.length === 0) return;
    await mustRun(
      [`${this.#bin}-restore`, "--noflush", "-w", LOCK_WAIT],
      { ...this.#opts, stdin: renderRestore(tables) },
    );
  }

  /** The raw `iptables-save` text, of one table or all. */
  save(table?: string): Promise<string> {
    const args = table ? ["-t", table] : [];
    return mustRun([`${this.#bin}-save`, ...args], this.#opts);
  }

  /** False when `table` cannot be read (no ip6tables nat module, IPv6 off). */
  async usable(table: string): Promise<boolean> {
    try {
      await this.save(table);
      return true;
    } catch {
      return false;
    }
  }

  /** One table parsed (empty when the table has never been used). */
  async table(table: string): Promise<SavedTable> {
    const parsed = parseSave(await this.save(table));
    return parsed.get(table) ??
      { name: table, chains: new Map(), rules: [] };
  }

  /** True when `chain` exists in `table`. */
  async chainExists(table: string, chain: string): Promise<boolean> {
    return (await this.table(table)).chains.has(chain);
  }

  /** Creates `chain` unless it exists. */
  async ensureChain(table: string, chain: string): Promise<void> {
    if (await this.chainExists(table, chain)) return;
    const r = await this.#try(["-t", table, "-N", chain]);
    if (r.code !== 0 && !(await this.chainExists(table, chain))) {
      throw this.#error(["-t", table, "-N", chain], r);
    }
  }

  /** True when a rule equal to `spec` is in `chain` (`iptables -C`). */
  async ruleExists(
    table: string,
    chain: string,
    spec: string[],
  ): Promise<boolean> {
    const args = ["-t", table, "-C", chain, ...spec];
    const r = await this.#try(args);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    // A chain (or jump target) that does not exist: no such rule either.
    if (/does not exist|No chain\/target\/match/.test(r.stderr)) return false;
    throw this.#error(args, r);
  }

  /** The rule specs of `chain` in order (without `-A <chain>`). */
  async listRules(table: string, chain: string): Promise<string[][]> {
    return (await this.table(table)).rules
      .filter((r) => r.chain === chain)
      .map((r) => r.spec);
  }

  /** Appends `spec` to `chain` unless an equal rule is there. */
  async appendUnique(
    table: string,
    chain: string,
    spec: string[],
  ): Promise<void> {
    if (await this.ruleExists(table, chain, spec)) return;
    await this.exec(["-t", table, "-A", chain, ...spec]);
  }

  /** Inserts `spec` at `position` (1-based) unless an equal rule is there. */
  async insertUnique(
    table: string,
    chain: string,
    spec: string[],
    position = 1,
  ): Promise<void> {
    if (await this.ruleExists(table, chain, spec)) return;
    await this.exec(["-t", table, "-I", chain, String(position), ...spec]);
  }

  /** Deletes every copy of `spec` from `chain`; returns how many went. */
  async deleteRule(
    table: string,
    chain: string,
    spec: string[],
  ): Promise<number> {
    let n = 0;
    while (await this.#ruleExistsQuiet(table, chain, spec)) {
      await this.exec(["-t", table, "-D", chain, ...spec]);
      n++;
    }
    return n;
  }

  /** Empties `chain`; a missing chain is fine. */
  async flushChain(table: string, chain: string): Promise<void> {
    if (!(await this.chainExists(table, chain))) return;
    await this.exec(["-t", table, "-F", chain]);
  }

  /**
   * Removes `chain` completely: every rule of `table` that jumps to it, its
   * rules, and the chain. A missing chain is fine.
   */
  async removeChain(table: string, chain: string): Promise<void> {
    const t = await this.table(table);
    if (!t.chains.has(chain)) return;
    const deletes = t.rules
      .filter((r) => r.chain !== chain && jumpTarget(r.spec) === chain)
      .map((r) => ["-D", r.chain, ...r.spec]);
    await this.restore([{
      table,
      chains: [chain],
      rules: [...deletes, ["-X", chain]],
    }]);
  }

  /** Removes several chains (and their jump rules) in one restore. */
  async removeChains(table: string, chains: string[]): Promise<void> {
    const t = await this.table(table);
    const gone = new Set(chains.filter((c) => t.chains.has(c)));
    if (gone.size === 0) return;
    const deletes = t.rules
      .filter((r) => !gone.has(r.chain) && gone.has(jumpTarget(r.spec) ?? ""))
      .map((r) => ["-D", r.chain, ...r.spec]);
    await this.restore([{
      table,
      chains: [...gone],
      rules: [...deletes, ...[...gone].map((c) => ["-X", c])],
    }]);
  }

  async #ruleExistsQuiet(
    table: string,
    chain: string,
    spec: string[],
  ): Promise<boolean> {
    if (!(await this.chainExists(table, chain))) return false;
    return await this.ruleExists(table, chain, spec);
  }

  #try(args: string[]) {
    return runTool([this.#bin, "-w", LOCK_WAIT, ...args], this.#opts);
  }

  #error(args: string[], r: { code: number; stderr: string }) {
    const cmd = [this.#bin, ...args];
    return new NetfilterError(
      `${cmd.join(" ")} exited ${r.code}: ${r.stderr.trim()}`,
      cmd,
      r.code,
      r.stderr,
    );
  }
}

/** The `-j`/`-g` target of a rule spec, if any. */
export function jumpTarget(spec: string[]): string | undefined {
  for (let i = 0; i < spec.length - 1; i++) {
    if (spec[i] === "-j" || spec[i] === "-g" || spec[i] === "--jump") {
      return spec[i + 1];
    }
  }
  return undefined;
}
