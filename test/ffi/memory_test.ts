import { assert, assertEquals } from "@std/assert";
import { cleanExecutableMappings } from "../../ffi/memory.ts";

const EXE = "/usr/bin/weft";

/** One smaps entry: header line and the two fields read. */
function entry(
  range: string,
  perms: string,
  path: string,
  rssKb: number,
  anonKb: number,
): string {
  return [
    `${range} ${perms} 00000000 08:01 1234                       ${path}`,
    `Size:               1024 kB`,
    `Rss:                ${rssKb} kB`,
    `Pss:                ${rssKb} kB`,
    `Anonymous:          ${anonKb} kB`,
    `VmFlags: rd mr mw me`,
  ].join("\n");
}

Deno.test("cleanExecutableMappings() picks the executable's read-only mappings without private pages", () => {
  const smaps = [
    entry("5600a0000000-5600a0100000", "r--p", EXE, 400, 0), // rodata
    entry("5600a0100000-5600a0400000", "r-xp", EXE, 900, 0), // text
    entry("5600a0400000-5600a0410000", "r--p", EXE, 64, 64), // RELRO
    entry("5600a0410000-5600a0420000", "rw-p", EXE, 64, 32), // data
    entry("7f0000000000-7f0000100000", "r-xp", "/usr/lib/libc.so.6", 300, 0),
    entry("7f0000200000-7f0000300000", "rw-p", "", 200, 200), // anonymous
    entry("7f0000300000-7f0000400000", "r-xp", `${EXE}-other`, 100, 0),
  ].join("\n");
  assertEquals(cleanExecutableMappings(smaps, EXE), [
    { start: 0x5600a0000000n, end: 0x5600a0100000n, rss: 400 * 1024 },
    { start: 0x5600a0100000n, end: 0x5600a0400000n, rss: 900 * 1024 },
  ]);
  assertEquals(cleanExecutableMappings("", EXE), []);
  assertEquals(cleanExecutableMappings("garbage\nRss: 12 kB\n", EXE), []);
});

Deno.test("releaseStartupMemory() unmaps start-up pages and the process keeps working", async () => {
  const child = new URL("./_release_child.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", child],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(text) as {
    released: number;
    before: number;
    after: number;
    work: string;
  };
  assert(r.released > 0, `released ${r.released} bytes`);
  assert(
    r.after < r.before,
    `resident executable pages ${r.before} -> ${r.after}`,
  );
  assertEquals(r.work, "hello over loopback, sorted 3,2,1");
});

Deno.test("trimMalloc() gives freed malloc memory back to the kernel", async () => {
  const child = new URL("./_trim_child.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", child],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    before: number;
    after: number;
    trimmed: boolean;
  };
  assert(r.trimmed, "malloc_trim gave memory back");
  assert(
    r.after < r.before - 8 * 1024 * 1024,
    `[heap] resident ${r.before} -> ${r.after}`,
  );
});
