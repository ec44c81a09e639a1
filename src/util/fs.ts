// Files: durable replacement and reading a file that may not be there.
// Imports only util/sync_io.ts: safe on the CNI start path.

import { writeAllSync } from "./sync_io.ts";

export interface WriteOptions {
  /** File mode, e.g. 0o600 (applied with chmod, so umask does not narrow
   * it); default 0o644. */
  mode?: number;
  /** Mode of directories created for the file; default 0o755. */
  dirMode?: number;
}

/**
 * Replaces `path` durably: writes a hidden temp file beside it, fsyncs it,
 * renames it over the target and fsyncs the directory (created if
 * missing). A crash leaves either the old or the new content, never a torn
 * file.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  opts: WriteOptions = {},
): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  await Deno.mkdir(dir, { recursive: true, mode: opts.dirMode ?? 0o755 });
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
  const tmp = `${dir}/.${path.slice(slash + 1)}.tmp-${Deno.pid}-${rand}`;
  const mode = opts.mode ?? 0o644;
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  try {
    using file = await Deno.open(tmp, { write: true, createNew: true, mode });
    await Deno.chmod(tmp, mode);
    for (let off = 0; off < bytes.length;) {
      off += await file.write(bytes.subarray(off));
    }
    await file.sync();
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  await syncDir(dir);
}

/**
 * Replaces `path` with `text` atomically: a temp file (0600) beside it,
 * fsync, rename; the parent directory is created (0700) when missing. The
 * temp file is removed on failure and the error rethrown. With `sync`
 * false the fsync is the caller's (syncFileSync later): readers still see
 * the old or the whole new content, a crash before that fsync may leave an
 * empty file.
 */
export function writeFileAtomicSync(
  path: string,
  text: string,
  sync = true,
): void {
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")) || "/", {
      recursive: true,
      mode: 0o700,
    });
    using f = Deno.openSync(tmp, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    writeAllSync(f, new TextEncoder().encode(text));
    if (sync) f.syncSync();
    Deno.renameSync(tmp, path);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not created, or already renamed */ }
    throw err;
  }
}

/** Flushes a file written earlier to disk; a file removed since is fine. */
export function syncFileSync(path: string): void {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  using _ = file;
  file.syncSync();
}

async function syncDir(dir: string): Promise<void> {
  try {
    using handle = await Deno.open(dir, { read: true });
    await handle.sync();
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
