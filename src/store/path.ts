// Where the embedded datastore lives under a data dir (K3s's layout).

/** `<data-dir>/server/db/state.db`; the caller creates the directory. */
export function defaultStorePath(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, "")}/server/db/state.db`;
}
