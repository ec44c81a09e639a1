// The one place that turns a datastore endpoint into a store. The etcd
// client (npm etcd3, gRPC) is imported only here and only for an etcd
// endpoint, so a SQLite server never loads it.

import { parseDatastoreEndpoint } from "./endpoint.ts";
import { StoreError } from "./errors.ts";
import { defaultStorePath } from "./path.ts";
import { openSqliteStore } from "./sqlite.ts";
import type { Store } from "./types.ts";

export interface OpenStoreOptions {
  /** The server's data dir (SQLite's default file lives under it). */
  dataDir: string;
  /** TLS files for etcd (--datastore-cafile, -certfile, -keyfile). */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Deadline of one etcd request (default 10000 ms). */
  requestTimeoutMs?: number;
}

/** Opens the store `endpoint` names; StoreError (one line) on failure. */
export async function openStore(
  endpoint: string | undefined,
  options: OpenStoreOptions,
): Promise<Store> {
  const ds = parseDatastoreEndpoint(
    endpoint,
    defaultStorePath(options.dataDir),
  );
  if (ds.kind === "sqlite") {
    if (options.caFile || options.certFile || options.keyFile) {
      throw new StoreError(
        "--datastore-cafile/-certfile/-keyfile apply to an etcd endpoint only",
      );
    }
    return openSqliteStore(ds.path);
  }
  const { openEtcdStore } = await import("./etcd.ts");
  return await openEtcdStore({
    endpoints: ds.endpoints,
    caFile: options.caFile,
    certFile: options.certFile,
    keyFile: options.keyFile,
    requestTimeoutMs: options.requestTimeoutMs,
  });
}
