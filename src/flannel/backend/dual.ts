// A backend per address family behind one Backend: dual-stack (and
// IPv6-only) clusters run an IPv4 and/or an IPv6 instance side by side.

import type { NetEvent } from "../../../ffi/mod.ts";
import type { CIDR } from "../../net/mod.ts";
import type { Lease } from "../lease.ts";
import type { Backend, ReconcileReport } from "./types.ts";

export class DualBackend implements Backend {
  readonly type: string;
  readonly mtu: number;
  readonly device: string | null;
  #v4: Backend | null;
  #v6: Backend | null;

  constructor(v4: Backend | null, v6: Backend | null) {
    const first = v4 ?? v6;
    if (!first) throw new TypeError("DualBackend needs at least one family");
    this.#v4 = v4;
    this.#v6 = v6;
    this.type = first.type;
    // One FLANNEL_MTU for pods of both families: the smaller one.
    this.mtu = Math.min(
      ...[v4, v6].filter((b) => b !== null).map((b) => b!.mtu),
    );
    this.device = first.device;
  }

  get parts(): Backend[] {
    return [this.#v4, this.#v6].filter((b): b is Backend => b !== null);
  }

  /** Devices of every family (flannel.1, flannel-v6.1). */
  get devices(): string[] {
    return this.parts.map((b) => b.device).filter((d): d is string => !!d);
  }

  backendData(): unknown {
    return this.#v4?.backendData() ?? null;
  }

  backendV6Data(): unknown {
    return this.#v6?.backendData() ?? null;
  }

  async configure(
    own: { subnet: CIDR | null; ipv6Subnet?: CIDR | null },
  ): Promise<void> {
    for (const b of this.parts) await b.configure(own);
  }

  async addLease(l: Lease): Promise<void> {
    for (const b of this.parts) await b.addLease(l);
  }

  async removeLease(l: Lease): Promise<void> {
    for (const b of this.parts) await b.removeLease(l);
  }

  drift(ev: NetEvent): string | null {
    for (const b of this.parts) {
      const why = b.drift(ev);
      if (why !== null) return why;
    }
    return null;
  }

  async reconcile(leases: Lease[]): Promise<ReconcileReport> {
    const out: ReconcileReport = { recreated: false, fixed: 0, removed: 0 };
    for (const b of this.parts) {
      const r = await b.reconcile(leases);
      out.recreated ||= r.recreated;
      out.fixed += r.fixed;
      out.removed += r.removed;
    }
    return out;
  }
}
