// flannel's metrics and events, kept beside the task: remote leases read at
// scrape time, reconcile passes and what they repaired, and the events an
// operator sees on the Node (FlannelUp, LeaseRejected).

import {
  flannelLeases,
  flannelReconciles,
  flannelRepairs,
} from "../metrics/mod.ts";

/** What flannel tells the operator (recorded as an Event on its Node). */
export interface FlannelEvent {
  reason: "FlannelUp" | "LeaseRejected";
  type: "Normal" | "Warning";
  message: string;
}

export type FlannelReport = (e: FlannelEvent) => void;

/** Exposes the count of remote leases until the returned function runs. */
export function exposeLeases(count: () => number): () => void {
  return flannelLeases.source(() => [[undefined, count()]]);
}

/** One full reconcile pass and what it changed. */
export function countReconcile(
  r: { recreated?: boolean; fixed: number; removed: number },
): void {
  flannelReconciles.inc();
  if (r.recreated) flannelRepairs.inc({ kind: "device_recreated" });
  if (r.fixed) flannelRepairs.inc({ kind: "entry_written" }, r.fixed);
  if (r.removed) flannelRepairs.inc({ kind: "entry_removed" }, r.removed);
}

export function countRulesRebuilt(families: number): void {
  if (families) flannelRepairs.inc({ kind: "rules_rebuilt" }, families);
}

/** Calls `report` without ever letting it fail the task. */
export function safeReport(report: FlannelReport | undefined): FlannelReport {
  return (e) => {
    try {
      report?.(e);
    } catch {
      // reporting is best effort
    }
  };
}
