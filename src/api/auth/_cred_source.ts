// Where the node credentials live: a file under the data dir (one server,
// SQLite) or one key in a datastore shared by several servers (etcd), so a
// node token issued by one server is accepted by every other. Both offer a
// cached read and a read-modify-write that never loses a concurrent change.

import {
  AlreadyExists,
  Conflict,
  NotFound,
  type Store,
} from "../../store/mod.ts";
import { writeFileAtomic } from "../../util/fs.ts";
import { DEFAULT_RECHECK_MS, FileCache } from "./_file_cache.ts";

export interface NodeRecord {
  passwordHash: string;
  tokenHash: string;
  issuedAt: string;
  /** A Node object of this name has been seen since the node joined. */
  registered?: boolean;
}

/** The records' `nodes` object as a Map: node names are user input, so no
 * lookup may reach Object.prototype (`constructor`, `__proto__`). */
export interface CredShape {
  nodes: Map<string, NodeRecord>;
}

export function parseCreds(text: string | null): CredShape {
  if (!text) return { nodes: new Map() };
  const v = JSON.parse(text) as { nodes?: Record<string, NodeRecord> };
  return { nodes: new Map(Object.entries(v.nodes ?? {})) };
}

export function serializeCreds(data: CredShape, indent?: number): string {
  return JSON.stringify(
    { nodes: Object.fromEntries(data.nodes) },
    null,
    indent,
  );
}

export interface CredSource {
  /** The current data (cached up to the recheck interval unless `fresh`);
   * the same object while unchanged. */
  read(fresh?: boolean): Promise<CredShape>;
  /** Applies `fn` to a copy of the current data and saves it when `fn`
   * says it changed it; re-run when another writer got there first. */
  modify<T>(fn: (data: CredShape) => Promise<[T, boolean]>): Promise<T>;
}

export class FileCredSource implements CredSource {
  readonly #file: FileCache<CredShape>;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string, recheckMs = DEFAULT_RECHECK_MS) {
    this.#file = new FileCache(path, parseCreds, recheckMs);
  }

  read(fresh = false): Promise<CredShape> {
    return this.#file.get(fresh);
  }

  modify<T>(fn: (data: CredShape) => Promise<[T, boolean]>): Promise<T> {
    const run = this.#queue.then(async () => {
      const data = structuredClone(await this.#file.get(true));
      const [out, changed] = await fn(data);
      if (changed) {
        await writeFileAtomic(this.path, serializeCreds(data, 2) + "\n", {
          mode: 0o600,
        });
        await this.#file.get(true);
      }
      return out;
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}

/** The datastore key of the node credentials (PBKDF2 and SHA-256 hashes
 * only; no secret is stored). */
export const NODE_CREDENTIALS_KEY = "/weft/node-credentials";

export class StoreCredSource implements CredSource {
  #value: CredShape = { nodes: new Map() };
  #rev = -1;
  #checkedAt = -Infinity;

  constructor(
    readonly store: Store,
    readonly recheckMs = DEFAULT_RECHECK_MS,
  ) {}

  async read(fresh = false): Promise<CredShape> {
    const now = performance.now();
    if (!fresh && now - this.#checkedAt < this.recheckMs) return this.#value;
    const e = await this.store.get(NODE_CREDENTIALS_KEY);
    const rev = e?.modRevision ?? 0;
    if (rev !== this.#rev) {
      this.#value = parseCreds(e?.value ?? null);
      this.#rev = rev;
    }
    this.#checkedAt = now;
    return this.#value;
  }

  async modify<T>(fn: (data: CredShape) => Promise<[T, boolean]>): Promise<T> {
    while (true) {
      await this.read(true);
      const rev = this.#rev;
      const data = structuredClone(this.#value);
      const [out, changed] = await fn(data);
      if (!changed) return out;
      const text = serializeCreds(data);
      try {
        const e = rev === 0
          ? await this.store.create(NODE_CREDENTIALS_KEY, text)
          : await this.store.update(NODE_CREDENTIALS_KEY, text, rev);
        // This server sees its own write at once.
        this.#value = data;
        this.#rev = e.modRevision;
        this.#checkedAt = performance.now();
        return out;
      } catch (e) {
        // Another server wrote in between: read again and re-apply.
        if (
          e instanceof Conflict || e instanceof NotFound ||
          e instanceof AlreadyExists
        ) continue;
        throw e;
      }
    }
  }
}
