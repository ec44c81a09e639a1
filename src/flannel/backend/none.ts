// The none backend: the lease is published and subnet.env written, but no
// route, neighbour or device is programmed (an operator or another agent
// provides reachability between pod subnets).

import type { Backend, BackendDeps, ReconcileReport } from "./types.ts";

export class NoneBackend implements Backend {
  readonly type = "none";
  readonly device = null;
  readonly mtu: number;

  constructor(deps: BackendDeps) {
    this.mtu = deps.conf.backend.mtu || deps.ext.mtu;
  }

  backendData(): null {
    return null;
  }

  backendV6Data(): null {
    return null;
  }

  configure(): void {}

  addLease(): void {}

  removeLease(): void {}

  reconcile(): ReconcileReport {
    return { recreated: false, fixed: 0, removed: 0 };
  }

  /** Nothing is programmed, so no change disagrees. */
  drift(): null {
    return null;
  }
}
