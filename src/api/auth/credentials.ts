// Per-node credentials kept by the server in
// `<data-dir>/server/cred/node-passwd.json` (0600): for each node name the
// PBKDF2 hash of the node's password and the SHA-256 of its current bearer
// token. Writes are serialised in-process and atomic on disk; readers pick up
// changes made by another process (`weft token forget-node`) within a second.

import { join } from "node:path";
import type { Store } from "../../store/mod.ts";
import {
  type CredShape,
  type CredSource,
  FileCredSource,
  type NodeRecord,
  StoreCredSource,
} from "./_cred_source.ts";
import { DEFAULT_RECHECK_MS } from "./_file_cache.ts";
import {
  constantTimeEqual,
  hashPassword,
  randomHex,
  sha256Hex,
  verifyPassword,
} from "./secret.ts";

/** The bearer token format of a node: `weft-node:<name>:<64 hex>`. */
const NODE_TOKEN = /^weft-node:([a-z0-9.-]{1,253}):([0-9a-f]{64})$/;

export type { NodeRecord };

export class NodePasswordRejected extends Error {
  override name = "NodePasswordRejected";
  constructor(readonly nodeName: string) {
    super(
      `Node password rejected for node "${nodeName}": another machine already joined under this name, or this machine's password file changed since it joined. ` +
        `If "${nodeName}" is a different machine, give this one a unique name (--node-name or --with-node-id). ` +
        `If it is the same machine re-installed, forget the old entry on the server: "kubectl delete node ${nodeName}" or "weft token forget-node ${nodeName}", then join again.`,
    );
  }
}

export function credDir(dataDir: string): string {
  return join(dataDir, "server", "cred");
}

const MAX_VERIFIED = 4096;

/** The abort reason of a revoked node identity. */
export class CredentialRevoked extends Error {
  override name = "CredentialRevoked";
  constructor(readonly nodeName: string) {
    super(`the credential of node "${nodeName}" was revoked`);
  }
}

export class NodeCredentials {
  readonly path: string;
  readonly #source: CredSource;
  /** Tokens already verified against `#verifiedFor` (the data they matched). */
  #verified = new Map<string, string>();
  #verifiedFor: CredShape | null = null;
  /** Per node with live identities: the token they hold and their signal. */
  #live = new Map<string, { tokenHash: string; ac: AbortController }>();

  /** `recheckMs`: how stale a change made by another process may be seen;
   * `source`: where the records live (default: the file under `dataDir`). */
  constructor(
    dataDir: string,
    recheckMs = DEFAULT_RECHECK_MS,
    source?: CredSource,
  ) {
    this.path = join(credDir(dataDir), "node-passwd.json");
    this.#source = source ?? new FileCredSource(this.path, recheckMs);
  }

  /**
   * Checks the node's password (the first use records it) and issues a new
   * bearer token for the node, revoking the previous one.
   */
  issue(nodeName: string, password: string): Promise<string> {
    return this.#modify(async (data) => {
      const old = data.nodes.get(nodeName);
      if (old && !await verifyPassword(password, old.passwordHash)) {
        throw new NodePasswordRejected(nodeName);
      }
      const secret = randomHex(32);
      data.nodes.set(nodeName, {
        passwordHash: old?.passwordHash ?? await hashPassword(password),
        tokenHash: await sha256Hex(secret),
        issuedAt: new Date().toISOString(),
        ...(old?.registered ? { registered: true } : {}),
      });
      return [`weft-node:${nodeName}:${secret}`, true];
    });
  }

  /** The node a bearer token belongs to, or null. */
  async verify(token: string): Promise<string | null> {
    return (await this.#check(token))?.name ?? null;
  }

  /**
   * The node a bearer token belongs to and a signal that aborts when that
   * token is revoked (a new token issued, the node forgotten or deleted,
   * here, by another process or by another server: see sweep()), or null.
   */
  async verifyIdentity(
    token: string,
  ): Promise<{ name: string; revoked: AbortSignal } | null> {
    const r = await this.#check(token);
    if (!r) return null;
    return { name: r.name, revoked: this.#revocation(r.name, r.tokenHash) };
  }

  async #check(
    token: string,
  ): Promise<{ name: string; tokenHash: string } | null> {
    const m = NODE_TOKEN.exec(token);
    if (!m) return null;
    const cached = await this.#source.read();
    const hit = await this.#match(token, m[1], m[2], cached);
    if (hit) return hit;
    // A miss may be a token another server (or process) issued since the
    // cache was filled: look once more at the current records.
    const fresh = await this.#source.read(true);
    return fresh === cached
      ? null
      : await this.#match(token, m[1], m[2], fresh);
  }

  async #match(
    token: string,
    name: string,
    secret: string,
    data: CredShape,
  ): Promise<{ name: string; tokenHash: string } | null> {
    this.#seen(data);
    const rec = data.nodes.get(name);
    if (!rec) return null;
    const known = this.#verified.get(token);
    if (known) return { name: known, tokenHash: rec.tokenHash };
    if (!constantTimeEqual(await sha256Hex(secret), rec.tokenHash)) {
      return null;
    }
    if (this.#verifiedFor === data) this.#verified.set(token, name);
    return { name, tokenHash: rec.tokenHash };
  }

  /** Data read from the source: a change drops the verified tokens and
   * revokes the identities whose token it no longer holds. */
  #seen(data: CredShape): void {
    if (data !== this.#verifiedFor || this.#verified.size > MAX_VERIFIED) {
      this.#verified.clear();
      this.#verifiedFor = data;
      this.#revokeChanged(data);
    }
  }

  /** The signal of the live identities of `name` under `tokenHash`. */
  #revocation(name: string, tokenHash: string): AbortSignal {
    let live = this.#live.get(name);
    if (live && live.tokenHash !== tokenHash) {
      live.ac.abort(new CredentialRevoked(name));
      live = undefined;
    }
    if (!live) {
      live = { tokenHash, ac: new AbortController() };
      this.#live.set(name, live);
    }
    return live.ac.signal;
  }

  /** Aborts the identities whose token `data` no longer holds. */
  #revokeChanged(data: CredShape): void {
    for (const [name, live] of this.#live) {
      const rec = data.nodes.get(name) ?? null;
      if (rec?.tokenHash === live.tokenHash) continue;
      this.#live.delete(name);
      live.ac.abort(new CredentialRevoked(name));
    }
  }

  /**
   * Picks up revocations made elsewhere (`weft token forget-node`, another
   * server): the server calls this periodically; the records are re-read
   * when they changed (at most every recheckMs).
   */
  async sweep(): Promise<void> {
    if (this.#live.size === 0) return;
    this.#seen(await this.#source.read());
  }

  /** Applies a change and revokes what it took away at once. */
  async #modify<T>(fn: (data: CredShape) => Promise<[T, boolean]>): Promise<T> {
    const out = await this.#source.modify(fn);
    this.#seen(await this.#source.read());
    return out;
  }

  /** Forgets a node's password and revokes its token; false if unknown. */
  forget(nodeName: string): Promise<boolean> {
    return this.#modify((data) =>
      Promise.resolve(
        data.nodes.delete(nodeName) ? [true, true] : [false, false],
      )
    );
  }

  /**
   * Records that Node objects exist for `present` names; with `all`, also
   * forgets every registered node not in `present` (deleted while no one was
   * watching). Returns the names forgotten.
   */
  async observeNodes(
    present: Iterable<string>,
    all = false,
  ): Promise<string[]> {
    const names = [...present];
    if (!all) {
      const cached = await this.#source.read();
      const known = (n: string) => cached.nodes.get(n);
      if (names.every((n) => !known(n) || known(n)!.registered)) {
        return [];
      }
    }
    return await this.#modify((data) => {
      const seen = new Set(names);
      const forgotten: string[] = [];
      let changed = false;
      for (const [name, rec] of data.nodes) {
        if (seen.has(name) && !rec.registered) {
          rec.registered = true;
          changed = true;
        } else if (all && !seen.has(name) && rec.registered) {
          data.nodes.delete(name);
          forgotten.push(name);
          changed = true;
        }
      }
      return Promise.resolve([forgotten, changed]);
    });
  }

  async names(): Promise<string[]> {
    return [...(await this.#source.read(true)).nodes.keys()].sort();
  }
}

const shared = new Map<string, NodeCredentials>();

/** Node credentials kept in a datastore shared by several servers. */
export function nodeCredentialsIn(
  store: Store,
  recheckMs = DEFAULT_RECHECK_MS,
  dataDir = "",
): NodeCredentials {
  return new NodeCredentials(
    dataDir,
    recheckMs,
    new StoreCredSource(store, recheckMs),
  );
}

/** Keeps the node credentials of `dataDir`'s server in `store` (servers
 * sharing an etcd datastore); call before the authenticator is created. */
export function keepNodeCredentialsIn(dataDir: string, store: Store): void {
  shared.set(
    join(dataDir),
    nodeCredentialsIn(store, DEFAULT_RECHECK_MS, dataDir),
  );
}

/** One instance per data dir in a process, shared by authenticator and routes. */
export function nodeCredentials(dataDir: string): NodeCredentials {
  const key = join(dataDir);
  let c = shared.get(key);
  if (!c) {
    c = new NodeCredentials(dataDir);
    shared.set(key, c);
  }
  return c;
}

/** `weft token forget-node <name>`: the node may join again with any password. */
export function forgetNode(
  dataDir: string,
  nodeName: string,
): Promise<boolean> {
  return nodeCredentials(dataDir).forget(nodeName);
}
