// weft's own API server (SQLite store, bearer-token authenticator, join
// routes) over TLS on an ephemeral port, for client and join tests.

import { createAuthenticator, joinRoutes } from "../../src/api/auth/mod.ts";
import { startApiServer } from "../../src/api/mod.ts";
import { openSqliteStore } from "../../src/store/mod.ts";
import { ensureServerPKI, type ServerPKI } from "../../src/tls/mod.ts";

export interface WeftServer {
  /** The test's temp dir (removed afterwards). */
  dir: string;
  /** The server's data dir (`<dir>/data`). */
  dataDir: string;
  url: string;
  pki: ServerPKI;
}

/** Runs `fn` against a fresh server; stops it and removes its files after. */
export async function withWeftServer(
  prefix: string,
  fn: (server: WeftServer) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const dataDir = `${dir}/data`;
  const pki = await ensureServerPKI({ dataDir, hostname: "s", addresses: [] });
  const store = openSqliteStore(`${dir}/state.db`);
  const server = await startApiServer({
    store,
    authenticate: createAuthenticator({ dataDir }),
    extraRoutes: [(app) => joinRoutes(app, { dataDir })],
    cert: pki.certPem,
    key: pki.keyPem,
    port: 0,
    hostname: "127.0.0.1",
  });
  try {
    await fn({ dir, dataDir, url: `https://127.0.0.1:${server.port}`, pki });
  } finally {
    await server.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}
