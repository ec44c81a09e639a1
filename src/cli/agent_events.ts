// The agent's events, recorded on its Node through its own credential:
// flannel up / failed / restarted, refused leases, and failed CNI ADDs.
// Best effort (src/kube EventRecorder): never blocks a task, bounded, and
// repeats are aggregated into `count`.

import { EventRecorder, kubeEventSink } from "../kube/mod.ts";
import type { FlannelReport } from "../flannel/mod.ts";
import { type CniOperation, recordCniOperation } from "../metrics/mod.ts";
import type { Logger } from "../supervisor/mod.ts";
import type { AgentState } from "./agent_tasks.ts";

export const AGENT_COMPONENT = "weft-agent";

/** The recorder of `state` (created on first use; it posts with the
 * credential of the latest join, so a re-join is picked up). */
export function agentEvents(
  state: AgentState,
  nodeName: string,
  logger?: Logger,
): EventRecorder {
  state.events ??= new EventRecorder(
    kubeEventSink(() => state.requireJoin().join.client),
    {
      component: AGENT_COMPONENT,
      host: nodeName,
      log: (m) => logger?.("warn", "events", m),
    },
  );
  return state.events;
}

/** uid = the node's name, as the kubelet reports node events: `kubectl
 * describe node` selects them by it. */
const nodeRef = (name: string) => ({ kind: "Node", name, uid: name });

/** flannel's reports as events on the node. */
export function flannelEvents(
  events: EventRecorder,
  nodeName: string,
): FlannelReport {
  return (e) => events.record({ regarding: nodeRef(nodeName), ...e });
}

/**
 * The supervisor's onRestart: a failed flannel task is a FlannelFailed
 * warning (its next FlannelUp says it is back); other tasks' restarts are
 * TaskRestarted warnings. The recorder may not exist yet (no agent).
 */
export function restartEvents(
  events: () => EventRecorder | undefined,
  nodeName: string,
): (task: string, error: string, restarts: number) => void {
  return (task, error, restarts) => {
    events()?.record({
      regarding: nodeRef(nodeName),
      reason: task === "flannel" ? "FlannelFailed" : "TaskRestarted",
      type: "Warning",
      message: `${task} failed (${error}); restarting it (restart ${restarts})`,
    });
  };
}

/**
 * One CNI operation the agent saw (served or reported to it): counted in
 * weft_cni_operations_total and timed; a failed ADD is a FailedCNIAdd
 * warning on the node.
 */
export function cniOperationSeen(
  events: EventRecorder,
  nodeName: string,
  op: CniOperation & { containerId: string; pod?: string; error?: string },
): void {
  recordCniOperation(op);
  if (op.ok || op.command !== "ADD") return;
  const what = op.pod
    ? `pod ${op.pod}`
    : `container ${op.containerId.slice(0, 12)}`;
  events.record({
    regarding: nodeRef(nodeName),
    reason: "FailedCNIAdd",
    type: "Warning",
    message: `CNI ADD of ${what} (${op.plugin}) failed: ${
      op.error ?? "unknown error"
    }`,
  });
}
