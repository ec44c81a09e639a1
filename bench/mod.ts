// `deno task bench`: runs every bench/*_bench.ts as its own process (fresh
// memory, its own namespaces) and lets each print weft beside its peer and
// the ratio. A benchmark that fails is reported and the others still run.

const dir = new URL(".", import.meta.url).pathname;
const only = Deno.args[0];
const files = [...Deno.readDirSync(dir)]
  .map((e) => e.name)
  .filter((n) => n.endsWith("_bench.ts") && (!only || n.includes(only)))
  .sort();

let failed = 0;
for (const file of files) {
  console.log(`\n== ${file.replace(/_bench\.ts$/, "")}`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${dir}${file}`],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (out.code !== 0) {
    failed++;
    console.log(`!! ${file} exited ${out.code}`);
  }
}
if (files.length === 0) console.log("no benchmarks matched");
Deno.exitCode = failed ? 1 : 0;
