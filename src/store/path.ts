// Where the embedded datastore lives under a data dir (K3s's layout).

/** `<data-dir>/server/db/state.db` (openSqliteStore creates the directory, 0700). */
export function defaultStorePath(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, "")}/server/db/state.db`;
}
