// Parsing argv against a flag table (flags.ts conventions): unknown flags
// and positional arguments are usage errors, every value goes through its
// row's check. Used by server/agent (config.ts) and the demo.

import { parseArgs } from "@std/cli/parse-args";
import { UsageError } from "./errors.ts";
import type { FlagDef } from "./flags.ts";

export type Value = string | boolean | number | string[];

export function splitList(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** Parses argv against the command's flags; rejects unknown flags. */
export function parseFlags(
  command: string,
  defs: FlagDef[],
  args: string[],
): Map<string, Value> {
  const known = new Set(defs.map((d) => d.name));
  let unknown: string | undefined;
  const parsed = parseArgs(args, {
    string: defs.filter((d) => d.kind !== "bool").map((d) => d.name),
    boolean: defs.filter((d) => d.kind === "bool").map((d) => d.name),
    collect: defs.filter((d) => d.kind === "list").map((d) => d.name),
    unknown: (arg: string, key?: string) => {
      if (key === undefined) return true;
      if (!known.has(key)) unknown ??= arg.split("=")[0];
      return false;
    },
  }) as Record<string, unknown> & { _: unknown[] };
  if (unknown) {
    throw new UsageError(
      `weft ${command}: unknown flag ${unknown}; see "weft ${command} --help"`,
    );
  }
  if (parsed._.length > 0) {
    throw new UsageError(
      `weft ${command}: unexpected argument "${
        parsed._[0]
      }"; see "weft ${command} --help"`,
    );
  }
  const out = new Map<string, Value>();
  const given = new Set(
    args.filter((a) => a.startsWith("--")).map((a) =>
      a.slice(2).split("=")[0].replace(/^no-/, "")
    ),
  );
  for (const d of defs) {
    if (!given.has(d.name)) continue;
    const v = parsed[d.name];
    if (d.kind === "list") {
      const items = (v as string[]).flatMap((s) => splitList(String(s)));
      if (items.length === 0) {
        throw new UsageError(`weft ${command}: flag --${d.name} needs a value`);
      }
      out.set(d.name, items);
    } else if (d.kind === "bool") {
      out.set(d.name, v as boolean);
    } else {
      if (typeof v !== "string" || v === "") {
        throw new UsageError(`weft ${command}: flag --${d.name} needs a value`);
      }
      out.set(d.name, v);
    }
  }
  return out;
}

/** Checks a value against its row: one line naming where it came from. */
export function checkValue(
  command: string,
  d: FlagDef,
  v: Value | undefined,
  source: string | undefined,
): void {
  if (v === undefined || !d.check) return;
  const where = source === "env"
    ? `environment ${d.env}`
    : source === "file"
    ? `config file key "${d.name}"`
    : `flag --${d.name}`;
  for (const item of Array.isArray(v) ? v : [String(v)]) {
    const problem = d.check(item);
    if (problem) {
      throw new UsageError(
        `weft ${command}: invalid value "${item}" for ${where}: ${problem}`,
      );
    }
  }
}
