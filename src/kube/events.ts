// Recording an Event (core/v1) about an object, for agents and tasks that
// want an operator to see what happened with `kubectl get events` and
// `kubectl describe` (flannel backend up/failed, a rejected lease, a tunnel
// that connected or dropped, a failed CNI ADD). One create per call: the
// server expires events after an hour, so callers need not clean up.

import type { KubeClient } from "./client.ts";
import type { KubeObject, ObjectMeta } from "./types.ts";

export interface EventSpec {
  /** The object the event is about (a Node: kind "Node", its name). */
  regarding: {
    kind: string;
    name: string;
    namespace?: string;
    uid?: string;
    apiVersion?: string;
  };
  /** Short, machine readable, CamelCase: "BackendFailed". */
  reason: string;
  /** For a human; cut to 1024 characters. */
  message: string;
  type?: "Normal" | "Warning";
  /** Who reports it: "weft-agent", "flannel", "tunnel". */
  component: string;
  /** The node it is reported from. */
  host?: string;
}

export interface CoreEvent extends KubeObject {
  metadata: ObjectMeta & { name: string; namespace: string };
  involvedObject: EventSpec["regarding"];
  reason: string;
  message: string;
  type: "Normal" | "Warning";
  source: { component: string; host?: string };
  reportingComponent: string;
  reportingInstance: string;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

const MAX_MESSAGE = 1024;
const MAX_NAME = 253;

/** The Event object for `spec` (namespace: the object's, else "default"). */
export function newEvent(spec: EventSpec, now = new Date()): CoreEvent {
  const ts = now.toISOString().replace(/\.\d+Z$/, "Z");
  const suffix = now.getTime().toString(16) +
    crypto.getRandomValues(new Uint16Array(1))[0].toString(16).padStart(4, "0");
  const base = spec.regarding.name.slice(0, MAX_NAME - suffix.length - 1);
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: {
      name: `${base}.${suffix}`,
      namespace: spec.regarding.namespace || "default",
    },
    involvedObject: { apiVersion: "v1", ...spec.regarding },
    reason: spec.reason,
    message: spec.message.slice(0, MAX_MESSAGE),
    type: spec.type ?? "Normal",
    source: spec.host
      ? { component: spec.component, host: spec.host }
      : { component: spec.component },
    reportingComponent: spec.component,
    reportingInstance: spec.host ?? spec.component,
    firstTimestamp: ts,
    lastTimestamp: ts,
    count: 1,
  };
}

/** Creates the event on the server; throws KubeError when refused. */
export function postEvent(
  client: KubeClient,
  spec: EventSpec,
): Promise<CoreEvent> {
  const ev = newEvent(spec);
  return client.create<CoreEvent>(
    `/api/v1/namespaces/${encodeURIComponent(ev.metadata.namespace)}/events`,
    ev,
  );
}
