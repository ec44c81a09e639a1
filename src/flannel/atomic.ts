// Durable replacement of a small file: temp file beside it, fsync, rename,
// fsync the directory. A crash leaves the old or the new content.

export async function writeAtomic(
  path: string,
  text: string,
  opts: { mode?: number; dirMode?: number } = {},
): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  await Deno.mkdir(dir, { recursive: true, mode: opts.dirMode ?? 0o755 });
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  const mode = opts.mode ?? 0o644;
  try {
    using f = await Deno.open(tmp, { write: true, createNew: true, mode });
    await Deno.chmod(tmp, mode);
    const bytes = new TextEncoder().encode(text);
    for (let off = 0; off < bytes.length;) {
      off += await f.write(bytes.subarray(off));
    }
    await f.sync();
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await Deno.rename(tmp, path);
  using d = await Deno.open(dir, { read: true });
  await d.sync().catch(() => {});
}
