// Writes the compiled state into the kernel through the netfilter seam: the
// first sync (and any after a failure) replaces the table in one
// transaction, every later one sends only the diff; both as one `nft -f -`.

import { sysctlSet } from "../../ffi/mod.ts";
import { type NetfilterOptions, Nft } from "../net/netfilter/mod.ts";
import {
  diffOps,
  fullScript,
  type NetpolState,
  TABLE_FAMILY,
  TABLE_NAME,
} from "./state.ts";

export interface SyncResult {
  /** nft commands sent (0 when nothing changed). */
  ops: number;
  /** True when the whole table was loaded (first sync or after an error). */
  full: boolean;
  /** The commands sent (for a full load: the script's lines). */
  commands: string[];
}

export class NetpolTable {
  readonly #nft: Nft;
  readonly #opts: NetfilterOptions;
  /** What the kernel holds, as last written; null: unknown, load whole. */
  #cur: NetpolState | null = null;

  constructor(opts: NetfilterOptions = {}) {
    this.#opts = opts;
    this.#nft = new Nft(opts);
  }

  /** Makes the table hold `want`: the whole table once, then diffs. */
  async sync(want: NetpolState): Promise<SyncResult> {
    if (this.#cur === null) {
      const script = fullScript(want);
      await this.#nft.apply(script);
      this.#cur = want;
      const commands = script.trimEnd().split("\n");
      return { ops: commands.length, full: true, commands };
    }
    const ops = diffOps(this.#cur, want);
    if (ops.length === 0) return { ops: 0, full: false, commands: [] };
    try {
      await this.#nft.apply(ops.join("\n") + "\n");
    } catch (e) {
      this.#cur = null;
      throw e;
    }
    this.#cur = want;
    return { ops: ops.length, full: false, commands: ops };
  }

  /** Forgets what was written, so that the next sync reloads the table. */
  invalidate(): void {
    this.#cur = null;
  }

  /** Deletes the table (a missing one is fine). */
  async remove(): Promise<void> {
    this.#cur = null;
    await this.#nft.deleteTable(TABLE_FAMILY, TABLE_NAME);
  }

  /** True when the table exists. */
  exists(): Promise<boolean> {
    return this.#nft.tableExists(TABLE_FAMILY, TABLE_NAME);
  }

  /**
   * Makes bridged IPv4/IPv6 traffic (pod to pod on one node, across cni0)
   * pass the inet forward hook, as K3s does; false when the kernel has no
   * br_netfilter (then only routed traffic is judged).
   */
  bridgeNetfilter(): boolean {
    try {
      for (const fam of ["iptables", "ip6tables"]) {
        sysctlSet(`net.bridge.bridge-nf-call-${fam}`, "1", this.#opts);
      }
      return true;
    } catch {
      return false;
    }
  }
}
