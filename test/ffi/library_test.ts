import { assertEquals, assertMatch } from "@std/assert";
import { run } from "../harness/netns.ts";

const MOD = new URL("../../ffi/mod.ts", import.meta.url).href;

async function evalWith(env: Record<string, string>, code: string) {
  const r = await run([Deno.execPath(), "eval", "--quiet", code], { env });
  return { code: r.code, stdout: r.stdout.trim() };
}

/** Opens a Netlink socket in a fresh process and prints what went wrong. */
const OPEN_AND_REPORT = `import { LibraryError, Netlink } from "${MOD}";
       try { Netlink.open(); console.log("opened"); }
       catch (e) { console.log(e instanceof LibraryError ? e.name + ": " + e.message : "other " + e); }`;

/** The multiarch directory holding the system's libnl-3, if there is one. */
const SYSTEM_LIBNL_DIR = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
]
  .find((d) => {
    try {
      return Deno.statSync(`${d}/libnl-3.so.200`).isFile;
    } catch {
      return false;
    }
  });

const NO_MULTIARCH_LIBNL =
  "skipped: libnl-3.so.200 is not in a multiarch directory on this host";

Deno.test("a bad WEFT_LIBNL_DIR gives a one-line LibraryError naming the Debian packages", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await evalWith(
      { WEFT_LIBNL_DIR: dir },
      OPEN_AND_REPORT,
    );
    assertEquals(r.code, 0);
    assertEquals(r.stdout.split("\n").length, 1);
    assertMatch(r.stdout, /^LibraryError: libnl-3\.so\.200 not found in /);
    assertMatch(r.stdout, /libnl-3-200 libnl-route-3-200 libnl-genl-3-200/);
    assertMatch(r.stdout, new RegExp(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a directory with libnl-3 but without libnl-route-3 names the missing library", async () => {
  const real = SYSTEM_LIBNL_DIR;
  if (!real) {
    console.log(NO_MULTIARCH_LIBNL);
    return;
  }
  const dir = await Deno.makeTempDir();
  try {
    await Deno.symlink(`${real}/libnl-3.so.200`, `${dir}/libnl-3.so.200`);
    const r = await evalWith(
      { WEFT_LIBNL_DIR: dir },
      OPEN_AND_REPORT,
    );
    assertEquals(r.stdout.split("\n").length, 1);
    assertMatch(
      r.stdout,
      /^LibraryError: cannot load \S*libnl-route-3\.so\.200/,
    );
    assertMatch(r.stdout, /libnl-3-200 libnl-route-3-200 libnl-genl-3-200/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("importing ffi/ does not load libnl until the first call", async () => {
  const r = await evalWith(
    { WEFT_LIBNL_DIR: "/nonexistent" },
    `import * as ffi from "${MOD}"; console.log(typeof ffi.Netlink.open);`,
  );
  assertEquals([r.code, r.stdout], [0, "function"]);
});

Deno.test("WEFT_LIBNL_DIR pointing at the real directory loads libnl from there", async () => {
  const dir = SYSTEM_LIBNL_DIR;
  if (!dir) {
    console.log(NO_MULTIARCH_LIBNL);
    return;
  }
  const r = await evalWith(
    { WEFT_LIBNL_DIR: dir },
    `import { Netlink } from "${MOD}"; using nl = Netlink.open(); console.log(nl.linkGet(1)?.name);`,
  );
  assertEquals([r.code, r.stdout], [0, "lo"]);
});
