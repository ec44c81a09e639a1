// A parsed view of a small file that another process may replace: re-read
// when its identity (inode, mtime, size) changes, checked at most every
// `recheckMs` so the hot path (every API request) does no I/O.

import { readTextIfExists } from "../../util/fs.ts";

export const DEFAULT_RECHECK_MS = 1000;

export class FileCache<T> {
  #value: T;
  #version = "";
  #checkedAt = -Infinity;

  constructor(
    readonly path: string,
    readonly parse: (text: string | null) => T,
    readonly recheckMs = DEFAULT_RECHECK_MS,
  ) {
    this.#value = parse(null);
  }

  /** The current value; `fresh` forces the check (e.g. before a write). */
  async get(fresh = false): Promise<T> {
    const now = performance.now();
    if (!fresh && now - this.#checkedAt < this.recheckMs) return this.#value;
    let version = "absent";
    try {
      const st = await Deno.stat(this.path);
      version = `${st.ino}:${st.mtime?.getTime()}:${st.size}`;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (version !== this.#version) {
      this.#value = this.parse(await readTextIfExists(this.path));
      this.#version = version;
    }
    this.#checkedAt = now;
    return this.#value;
  }
}
