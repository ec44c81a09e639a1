// Events the server records about nodes (core/v1, namespace "default", as
// Kubernetes' node controllers do): a node registered, and pod CIDRs
// assigned to it by the node IPAM. Recording never fails the node write.

import { podCidrsOf } from "./ipam.ts";
import type { KubeObject } from "./object.ts";
import { nowTimestamp } from "./object.ts";
import type { Registry } from "./registry.ts";
import { EVENTS, NODES, type ResourceDef } from "./resources.ts";

/** The component named as the events' source. */
export const SERVER_COMPONENT = "weft-server";

function eventName(object: string): string {
  const suffix = Date.now().toString(16) +
    crypto.getRandomValues(new Uint16Array(1))[0].toString(16).padStart(4, "0");
  return `${object.slice(0, 253 - suffix.length - 1)}.${suffix}`;
}

function nodeEvent(node: KubeObject, reason: string, message: string) {
  const now = nowTimestamp();
  const name = node.metadata.name ?? "";
  return {
    metadata: { name: eventName(name), namespace: "default" },
    involvedObject: {
      apiVersion: "v1",
      kind: "Node",
      name,
      uid: node.metadata.uid ?? name,
    },
    reason,
    message,
    type: "Normal",
    source: { component: SERVER_COMPONENT },
    reportingComponent: SERVER_COMPONENT,
    reportingInstance: SERVER_COMPONENT,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}

/** The events a node write produces. */
export function nodeEvents(
  old: KubeObject | null,
  node: KubeObject,
): KubeObject[] {
  const out: KubeObject[] = [];
  const name = node.metadata.name ?? "";
  if (!old) {
    out.push(
      nodeEvent(node, "RegisteredNode", `Registered Node ${name} in weft`),
    );
  }
  const before = old ? podCidrsOf(old) : [];
  const after = podCidrsOf(node);
  if (after.length && after.join(",") !== before.join(",")) {
    out.push(nodeEvent(
      node,
      "PodCIDRAssigned",
      `Node ${name} was assigned pod CIDR(s) ${after.join(",")}`,
    ));
  }
  return out;
}

/** The registry's afterWrite hook recording node events. */
export function recordNodeEvents(
  registry: () => Registry,
  log: (msg: string) => void,
) {
  return async (def: ResourceDef, old: KubeObject | null, obj: KubeObject) => {
    if (def !== NODES) return;
    for (const ev of nodeEvents(old, obj)) {
      try {
        await registry().create(EVENTS, ev);
      } catch (e) {
        log(
          `recording event ${ev.reason} for node ${obj.metadata.name}: ${
            (e as Error).message
          }`,
        );
      }
    }
  };
}
