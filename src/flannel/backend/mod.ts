// The backend table: net-conf Backend.Type -> constructor.

import { NetConfError } from "../errors.ts";
import { HostGwBackend } from "./host_gw.ts";
import { NoneBackend } from "./none.ts";
import type { Backend, BackendDeps } from "./types.ts";
import { VxlanBackend } from "./vxlan.ts";

export type {
  Backend,
  BackendDeps,
  ExternalInterface,
  ReconcileReport,
} from "./types.ts";
export { HostGwBackend, NoneBackend, VxlanBackend };

const TABLE: Record<string, (deps: BackendDeps) => Backend> = {
  "vxlan": (d) => new VxlanBackend(d),
  "host-gw": (d) => new HostGwBackend(d),
  "none": (d) => new NoneBackend(d),
};

/** Builds the backend named in net-conf.json. */
export function createBackend(deps: BackendDeps): Backend {
  const make = TABLE[deps.conf.backend.type];
  if (!make) {
    throw new NetConfError(
      "Backend.Type",
      `backend ${
        JSON.stringify(deps.conf.backend.type)
      } is not available in weft; use vxlan, host-gw or none`,
    );
  }
  return make(deps);
}
