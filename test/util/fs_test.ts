// util/fs.ts: durable replacement (mode applied past umask, directories
// created, no temp file left) and reading a file that may be missing.

import { assertEquals, assertRejects } from "@std/assert";
import { readTextIfExists, writeFileAtomic } from "../../src/util/fs.ts";

Deno.test("writeFileAtomic() creates the directory, applies the mode, replaces the content and leaves no temp file", async () => {
  const root = await Deno.makeTempDir({ prefix: "weft-t-fs-" });
  try {
    const path = `${root}/a/b/secret`;
    await writeFileAtomic(path, "one", { mode: 0o600, dirMode: 0o700 });
    assertEquals(await Deno.readTextFile(path), "one");
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    assertEquals((await Deno.stat(`${root}/a/b`)).mode! & 0o777, 0o700);
    await writeFileAtomic(path, new TextEncoder().encode("two"));
    assertEquals(await Deno.readTextFile(path), "two");
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o644);
    assertEquals([...Deno.readDirSync(`${root}/a/b`)].map((e) => e.name), [
      "secret",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("writeFileAtomic() over a directory fails and leaves no temp file", async () => {
  const root = await Deno.makeTempDir({ prefix: "weft-t-fs-" });
  try {
    await Deno.mkdir(`${root}/d/x`, { recursive: true });
    await assertRejects(() => writeFileAtomic(`${root}/d`, "text"));
    assertEquals([...Deno.readDirSync(root)].map((e) => e.name), ["d"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readTextIfExists(): the text, null when missing, other errors thrown", async () => {
  const root = await Deno.makeTempDir({ prefix: "weft-t-fs-" });
  try {
    assertEquals(await readTextIfExists(`${root}/none`), null);
    await Deno.writeTextFile(`${root}/f`, "x");
    assertEquals(await readTextIfExists(`${root}/f`), "x");
    await assertRejects(() => readTextIfExists(root));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
