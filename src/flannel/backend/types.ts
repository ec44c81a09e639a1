// The backend contract: a backend is built for the external interface and
// the net-conf, publishes its backend-data, configures the device for our own
// lease, programs remote leases one by one and reconciles the device against
// the full set of leases.

import type { NetEvent } from "../../../ffi/mod.ts";
import type { CIDR, IP } from "../../net/mod.ts";
import type { Dataplane } from "../dataplane.ts";
import type { Lease } from "../lease.ts";
import type { NetConf } from "../netconf.ts";

/** The interface flannel talks through and the addresses it uses. */
export interface ExternalInterface {
  name: string;
  index: number;
  mtu: number;
  /** Address on the interface (vxlan local address). */
  ifaceAddr: IP | null;
  ifaceAddr6: IP | null;
  /** Address published as public-ip (node-ip or the interface address). */
  extAddr: IP | null;
  extAddr6: IP | null;
}

export interface BackendDeps {
  nl: Dataplane;
  conf: NetConf;
  ext: ExternalInterface;
  log: (msg: string) => void;
  /** backend-data this node published before (restores the VTEP MAC). */
  previousData?: unknown;
  /** backend-v6-data this node published before. */
  previousV6Data?: unknown;
  /** Writes a sysctl in the dataplane's namespace ("net/ipv6/conf/x/y"). */
  sysctl?: (key: string, value: string) => void;
  /** flannel's run dir (wireguard: wgkey, wireguard/<dev>.sock); /run/flannel. */
  runDir?: string;
  /** Network namespace (path) of the dataplane, for daemons (wireguard-go). */
  netns?: string;
  /** Whether the kernel has WireGuard (generic netlink family "wireguard"). */
  kernelWireguard?: () => boolean;
}

/** What one reconcile pass changed. */
export interface ReconcileReport {
  /** The device was missing or incompatible and was (re)created. */
  recreated: boolean;
  /** Entries written because they were missing or differed. */
  fixed: number;
  /** Entries removed because they belong to no lease. */
  removed: number;
}

export interface Backend {
  readonly type: string;
  /** FLANNEL_MTU. */
  readonly mtu: number;
  /** The device the backend owns, when it owns one (flannel.1). */
  readonly device: string | null;
  /** backend-data annotation value (JSON-encoded by the caller). */
  backendData(): unknown;
  /** backend-v6-data annotation value. */
  backendV6Data(): unknown;
  /**
   * Creates or reuses the device(s) and gives them our subnet(s). The
   * netlink backends work synchronously; wireguard talks to a daemon, so
   * every step may return a promise (callers await).
   */
  configure(
    own: { subnet: CIDR | null; ipv6Subnet?: CIDR | null },
  ): void | Promise<void>;
  /** Programs one remote lease. Throws when it cannot (after rollback). */
  addLease(l: Lease): void | Promise<void>;
  /** Removes one remote lease's entries; keeps going on errors. */
  removeLease(l: Lease): void | Promise<void>;
  /** Makes the dataplane match exactly these remote leases. */
  reconcile(leases: Lease[]): ReconcileReport | Promise<ReconcileReport>;
  /**
   * Why a netlink change (a link, neighbour, FDB entry or route) disagrees
   * with what the backend programmed, so that a reconcile pass is due; null
   * when it agrees (weft's own writes) or does not concern the backend.
   */
  drift(ev: NetEvent): string | null;
}
