import { assertEquals, assertMatch } from "@std/assert";

const MOD = new URL("../../ffi/mod.ts", import.meta.url).href;

async function evalWith(env: Record<string, string>, code: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout).trim(),
  };
}

Deno.test("a bad WEFT_LIBNL_DIR gives a one-line LibraryError naming the Debian packages", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await evalWith(
      { WEFT_LIBNL_DIR: dir },
      `import { LibraryError, Netlink } from "${MOD}";
       try { Netlink.open(); console.log("opened"); }
       catch (e) { console.log(e instanceof LibraryError ? e.name + ": " + e.message : "other " + e); }`,
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
  const real = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"].find(
    (d) => {
      try {
        return Deno.statSync(`${d}/libnl-3.so.200`).isFile;
      } catch {
        return false;
      }
    },
  );
  if (!real) {
    console.log(
      "skipped: libnl-3.so.200 is not in a multiarch directory on this host",
    );
    return;
  }
  const dir = await Deno.makeTempDir();
  try {
    await Deno.symlink(`${real}/libnl-3.so.200`, `${dir}/libnl-3.so.200`);
    const r = await evalWith(
      { WEFT_LIBNL_DIR: dir },
      `import { LibraryError, Netlink } from "${MOD}";
       try { Netlink.open(); console.log("opened"); }
       catch (e) { console.log(e instanceof LibraryError ? e.name + ": " + e.message : "other " + e); }`,
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
  const dir = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"].find(
    (d) => {
      try {
        return Deno.statSync(`${d}/libnl-3.so.200`).isFile;
      } catch {
        return false;
      }
    },
  );
  if (!dir) {
    console.log(
      "skipped: libnl-3.so.200 is not in a multiarch directory on this host",
    );
    return;
  }
  const r = await evalWith(
    { WEFT_LIBNL_DIR: dir },
    `import { Netlink } from "${MOD}"; using nl = Netlink.open(); console.log(nl.linkGet(1)?.name);`,
  );
  assertEquals([r.code, r.stdout], [0, "lo"]);
});
