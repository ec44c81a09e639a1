// The supervisor's metrics: restarts counted as they happen, readiness read
// at scrape time from each supervisor's status.

import { supervisorRestarts, supervisorTaskReady } from "../metrics/mod.ts";
import type { TaskStatus } from "./supervisor.ts";

export function countRestart(task: string): void {
  supervisorRestarts.inc({ task });
}

/** Exposes the tasks' readiness until the returned function is called. */
export function exposeReadiness(status: () => TaskStatus[]): () => void {
  return supervisorTaskReady.source(() =>
    status().map((t) => [{ task: t.name }, t.ready ? 1 : 0])
  );
}
