// The backend table: net-conf Backend.Type -> constructor (the names of
// the backends are one table in names.ts).

import { NetConfError } from "../errors.ts";
import { BACKEND_TYPES, type BackendType, orList } from "./names.ts";
import { DualBackend } from "./dual.ts";
import { HostGwBackend } from "./host_gw.ts";
import { NoneBackend } from "./none.ts";
import type { Backend, BackendDeps } from "./types.ts";
import { VxlanBackend } from "./vxlan.ts";
import { WireguardBackend } from "./wireguard.ts";

export type {
  Backend,
  BackendDeps,
  ExternalInterface,
  ReconcileReport,
} from "./types.ts";
export {
  DualBackend,
  HostGwBackend,
  NoneBackend,
  VxlanBackend,
  WireguardBackend,
};
export { type WireguardBackendData, wireguardData } from "./wireguard.ts";
export * from "./names.ts";

/** Each backend type's constructor (the names live in names.ts). */
const CONSTRUCTORS: Record<
  BackendType,
  (deps: BackendDeps, family: 4 | 6) => Backend
> = {
  "vxlan": (d, f) => new VxlanBackend(d, f),
  "host-gw": (d, f) => new HostGwBackend(d, f),
  "wireguard": (d, f) => new WireguardBackend(d, f),
  "none": (d) => new NoneBackend(d),
};

/**
 * Builds the backend named in net-conf.json: one instance per enabled
 * address family behind a DualBackend.
 */
export function createBackend(deps: BackendDeps): DualBackend {
  // A net-conf built outside parseNetConf may carry any string.
  const make: typeof CONSTRUCTORS.vxlan | undefined =
    CONSTRUCTORS[deps.conf.backend.type];
  if (!make) {
    throw new NetConfError(
      "Backend.Type",
      `backend ${
        JSON.stringify(deps.conf.backend.type)
      } is not available in weft; use ${orList(BACKEND_TYPES)}`,
    );
  }
  const c = deps.conf;
  if (c.backend.type === "none") return new DualBackend(make(deps, 4), null);
  return new DualBackend(
    c.enableIPv4 ? make(deps, 4) : null,
    c.enableIPv6 ? make(deps, 6) : null,
  );
}
