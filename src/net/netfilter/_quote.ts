// Tokenizing and quoting of iptables-save / iptables-restore rule lines.
// Both tools use double quotes with backslash escapes (`--comment "a \"b\""`).

/** Splits one rule line into arguments, undoing iptables-save's quoting. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inQuote = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inQuote) {
      if (c === "\\" && i + 1 < line.length) {
        cur += line[++i];
      } else if (c === '"') {
        inQuote = false;
      } else {
        cur += c;
      }
    } else if (c === '"') {
      inQuote = true;
      has = true;
    } else if (c === " " || c === "\t") {
      if (has || cur !== "") out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (inQuote) throw new SyntaxError(`unterminated quote in rule: ${line}`);
  if (has || cur !== "") out.push(cur);
  return out;
}

/** Quotes one argument for an iptables-restore line when it needs it. */
export function quoteArg(arg: string): string {
  if (arg !== "" && !/[\s"\\']/.test(arg)) return arg;
  return `"${arg.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Joins arguments into one iptables-restore line. */
export function joinArgs(args: string[]): string {
  return args.map(quoteArg).join(" ");
}
