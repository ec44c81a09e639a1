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

export class NodeCredentials {
  readonly path: string;
  readonly #source: CredSource;
  /** Tokens already verified against `#verifiedFor` (the data they matched). */
  #verified = new Map<string, string>();
  #verifiedFor: CredShape | null = null;

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
    return this.#source.modify(async (data) => {
      const old = data.nodes[nodeName];
      if (old && !await verifyPassword(password, old.passwordHash)) {
        throw new NodePasswordRejected(nodeName);
      }
      const secret = randomHex(32);
      data.nodes[nodeName] = {
        passwordHash: old?.passwordHash ?? await hashPassword(password),
        tokenHash: await sha256Hex(secret),
        issuedAt: new Date().toISOString(),
        ...(old?.registered ? { registered: true } : {}),
      };
      return [`weft-node:${nodeName}:${secret}`, true];
    });
  }

  /** The node a bearer token belongs to, or null. */
  async verify(token: string): Promise<string | null> {
    const m = NODE_TOKEN.exec(token);
    if (!m) return null;
    const data = await this.#source.read();
    if (data !== this.#verifiedFor || this.#verified.size > MAX_VERIFIED) {
      this.#verified.clear();
      this.#verifiedFor = data;
    }
    const known = this.#verified.get(token);
    if (known) return known;
    const rec = data.nodes[m[1]];
    if (!rec || !constantTimeEqual(await sha256Hex(m[2]), rec.tokenHash)) {
      return null;
    }
    if (this.#verifiedFor === data) this.#verified.set(token, m[1]);
    return m[1];
  }

  /** Forgets a node's password and revokes its token; false if unknown. */
  forget(nodeName: string): Promise<boolean> {
    return this.#source.modify((data) => {
      if (!data.nodes[nodeName]) return Promise.resolve([false, false]);
      delete data.nodes[nodeName];
      return Promise.resolve([true, true]);
    });
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
      if (names.every((n) => !cached.nodes[n] || cached.nodes[n].registered)) {
        return [];
      }
    }
    return await this.#source.modify((data) => {
      const seen = new Set(names);
      const forgotten: string[] = [];
      let changed = false;
      for (const [name, rec] of Object.entries(data.nodes)) {
        if (seen.has(name) && !rec.registered) {
          rec.registered = true;
          changed = true;
        } else if (all && !seen.has(name) && rec.registered) {
          delete data.nodes[name];
          forgotten.push(name);
          changed = true;
        }
      }
      return Promise.resolve([forgotten, changed]);
    });
  }

  async names(): Promise<string[]> {
    return Object.keys((await this.#source.read(true)).nodes).sort();
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
