// Durable file replacement: write a temp file beside the target, fsync it,
// rename it over the target, fsync the directory. A crash leaves either the
// old or the new content, never a torn file.

import { dirname } from "node:path";

export interface WriteOptions {
  /** File mode, e.g. 0o600 (applied with chmod, so umask does not narrow it). */
  mode?: number;
}

export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: WriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true });
  const suffix = crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
  const tmp = `${path}.tmp-${suffix}`;
  const mode = opts.mode ?? 0o644;
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  try {
    using file = await Deno.open(tmp, {
      write: true,
      createNew: true,
      mode,
    });
    await Deno.chmod(tmp, mode);
    for (let off = 0; off < bytes.length;) {
      off += await file.write(bytes.subarray(off));
    }
    await file.sync();
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await Deno.rename(tmp, path);
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  try {
    using d = await Deno.open(dir, { read: true });
    await d.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename still stands.
  }
}

/** Reads a text file, or null when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}
