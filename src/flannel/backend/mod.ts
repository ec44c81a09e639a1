// The backend table: net-conf Backend.Type -> constructor (the names of
// the backends are one table in names.ts). A node runs one backend: only
// its module is loaded (each costs the process its code; wireguard's
// brings its userspace daemon and UAPI client along). The backend classes
// themselves are imported from their own files.

import { NetConfError } from "../errors.ts";
import { BACKEND_TYPES, type BackendType, orList } from "./names.ts";
import { DualBackend } from "./dual.ts";
import type { Backend, BackendDeps } from "./types.ts";

export type {
  Backend,
  BackendDeps,
  ExternalInterface,
  ReconcileReport,
} from "./types.ts";
export { DualBackend };
export * from "./names.ts";

type Make = (deps: BackendDeps, family: 4 | 6) => Backend;

/** Each backend type's constructor, loaded when asked for (the names live
 * in names.ts). */
const CONSTRUCTORS: Record<BackendType, () => Promise<Make>> = {
  "vxlan": async () => {
    const { VxlanBackend } = await import("./vxlan.ts");
    return (d, f) => new VxlanBackend(d, f);
  },
  "host-gw": async () => {
    const { HostGwBackend } = await import("./host_gw.ts");
    return (d, f) => new HostGwBackend(d, f);
  },
  "wireguard": async () => {
    const { WireguardBackend } = await import("./wireguard.ts");
    return (d, f) => new WireguardBackend(d, f);
  },
  "none": async () => {
    const { NoneBackend } = await import("./none.ts");
    return (d) => new NoneBackend(d);
  },
};

/**
 * Builds the backend named in net-conf.json: one instance per enabled
 * address family behind a DualBackend.
 */
export async function createBackend(deps: BackendDeps): Promise<DualBackend> {
  // A net-conf built outside parseNetConf may carry any string.
  const load: (() => Promise<Make>) | undefined = Object.hasOwn(
      CONSTRUCTORS,
      deps.conf.backend.type,
    )
    ? CONSTRUCTORS[deps.conf.backend.type]
    : undefined;
  if (!load) {
    throw new NetConfError(
      "Backend.Type",
      `backend ${
        JSON.stringify(deps.conf.backend.type)
      } is not available in weft; use ${orList(BACKEND_TYPES)}`,
    );
  }
  const make = await load();
  const c = deps.conf;
  if (c.backend.type === "none") return new DualBackend(make(deps, 4), null);
  return new DualBackend(
    c.enableIPv4 ? make(deps, 4) : null,
    c.enableIPv6 ? make(deps, 6) : null,
  );
}
