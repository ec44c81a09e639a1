// `deno task compile`: builds dist/weft, one self-contained binary with its
// permissions baked in (-A), every module of src/ and ffi/ included (the CNI
// plugins and the CLI commands are imported lazily).
//
// deno compile embeds "denort", the Deno runtime without the toolchain. It
// takes it from DENORT_BIN (air-gapped builds: point it at the unpacked
// denort of the same Deno version), else from Deno's cache, else downloads
// it. When none works this prints ONE line saying so and exits 1.
//
//   deno task compile [--output PATH]
//
// The binary carries the V8 memory flags every command can run with
// (src/cli/memory.ts COMMON_V8_FLAGS); `weft agent` adds its own when it
// re-executes itself at start.

import { COMMON_V8_FLAGS } from "../src/cli/memory.ts";

const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function parseOutput(args: string[]): string {
  const i = args.indexOf("--output");
  if (i >= 0) {
    const v = args[i + 1];
    if (!v) throw new Error("--output needs a path");
    return v;
  }
  const eq = args.find((a) => a.startsWith("--output="));
  return eq ? eq.slice("--output=".length) : `${root}/dist/weft`;
}

function denortHint(): string {
  return `set DENORT_BIN to the denort binary of Deno ${Deno.version.deno} ` +
    `(the denort-${Deno.build.target}.zip release asset, unpacked) and rerun`;
}

async function main(args: string[]): Promise<number> {
  let output: string;
  try {
    output = parseOutput(args);
  } catch (e) {
    console.log(`compile: ${(e as Error).message}`);
    return 2;
  }
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) {
    try {
      const st = await Deno.stat(denort);
      if (!st.isFile) throw new Error("not a file");
    } catch {
      console.log(
        `compile: DENORT_BIN=${denort} is not a file; ${denortHint()}`,
      );
      return 1;
    }
  }
  await Deno.mkdir(output.slice(0, output.lastIndexOf("/")) || ".", {
    recursive: true,
  });
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      "-A",
      `--v8-flags=${COMMON_V8_FLAGS.join(",")}`,
      "--config",
      `${root}/deno.json`,
      "--include",
      `${root}/src`,
      "--include",
      `${root}/ffi`,
      "-o",
      output,
      `${root}/main.ts`,
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  });
  const out = await cmd.output();
  const text = new TextDecoder().decode(out.stderr) +
    new TextDecoder().decode(out.stdout);
  if (out.code === 0) {
    // A wrong DENORT_BIN (e.g. the full deno binary) builds a file that
    // runs Deno's own CLI: check the result really is weft.
    const probe = await new Deno.Command(output, {
      args: ["version"],
      stdout: "piped",
      stderr: "null",
    }).output().catch(() => null);
    const said = probe ? new TextDecoder().decode(probe.stdout) : "";
    if (!probe || probe.code !== 0 || !said.startsWith("weft version")) {
      await Deno.remove(output).catch(() => {});
      console.log(
        `compile: the built binary does not run weft (is DENORT_BIN=${
          denort ?? "(unset)"
        } really denort?); ${denortHint()}`,
      );
      return 1;
    }
    console.log(`compile: built ${output} (${said.trim()})`);
    return 0;
  }
  if (/denort|Setting up base binary/i.test(text)) {
    const why = denort
      ? `deno compile could not use DENORT_BIN=${denort}`
      : "denort is not available: DENORT_BIN is unset, none is cached, and downloading it failed (no network?)";
    console.log(`compile: ${why}; ${denortHint()}`);
    return 1;
  }
  console.log(`compile: deno compile failed: ${failureLine(text, out.code)}`);
  return 1;
}

/**
 * The line that says why deno compile failed: the first error (a type
 * error's diagnostic, say), not the "Stack backtrace:" that ends its output.
 */
function failureLine(text: string, code: number): string {
  // deno-lint-ignore no-control-regex
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n")
    .map((l) => l.trim());
  const end = lines.indexOf("Stack backtrace:");
  const said = (end >= 0 ? lines.slice(0, end) : lines).filter((l) =>
    l && !/^\d+: /.test(l)
  );
  return said.find((l) => /^error:|\[ERROR\]/.test(l)) ?? said.at(-1) ??
    `exit ${code}`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
