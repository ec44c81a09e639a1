// The CNI runtime (libcni's job) and `weft cni`.

export {
  cniCommand,
  parseCniArgs,
  parsePortMapping,
  USAGE,
} from "./command.ts";
export {
  type Attachment,
  CniRuntime,
  type RuntimeConf,
  type RuntimeOptions,
} from "./runtime.ts";
export { type ConfList, loadConfList, parseConfList } from "./conflist.ts";
export {
  type CacheEntry,
  cachePath,
  DEFAULT_CACHE_DIR,
  listCache,
  readCache,
} from "./cache.ts";
