// The weft command line. Library code never exits; main() returns the code.
export const VERSION = "0.1.0";

export async function main(args: string[]): Promise<number> {
  const [cmd] = args;
  if (cmd === "version" || cmd === "--version") {
    console.log(`weft version v${VERSION} (deno ${Deno.version.deno})`);
    return 0;
  }
  await Promise.resolve();
  console.error(`weft: unknown command "${cmd ?? ""}"; try "weft --help"`);
  return 2;
}
