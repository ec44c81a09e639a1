// Events about pod CIDR decisions of the node IPAM (the node write itself
// is answered as before): a podCIDR the server refused (PodCIDRRejected,
// with the refusal's message), and a node left without one because the
// cluster CIDR is full (CIDRNotAvailable, as Kubernetes' node IPAM says).

import type { EventRecorder } from "../kube/mod.ts";
import { ApiError } from "./errors.ts";
import { type NodeIpam, podCidrsOf } from "./ipam.ts";
import type { KubeObject } from "./object.ts";
import type { RegistryHooks } from "./registry.ts";
import { NODES, type ResourceDef } from "./resources.ts";

export function ipamWithEvents(
  ipam: NodeIpam,
  events: EventRecorder | undefined,
): NonNullable<RegistryHooks["beforeWrite"]> {
  return async (def: ResourceDef, old: KubeObject | null, obj: KubeObject) => {
    if (!events || def !== NODES) return await ipam.beforeWrite(def, old, obj);
    // uid = the node's name, as the kubelet reports node events: `kubectl
    // describe node` selects them by it.
    const name = obj.metadata.name ?? "";
    const regarding = { kind: "Node", name, uid: name };
    try {
      const extra = await ipam.beforeWrite(def, old, obj);
      if (podCidrsOf(obj).length === 0) {
        events.record({
          regarding,
          reason: "CIDRNotAvailable",
          type: "Warning",
          message: `Node ${regarding.name} status is now: CIDRNotAvailable ` +
            `(no free pod CIDR in ${ipam.clusterCidrs.join(",")})`,
        });
      }
      return extra;
    } catch (e) {
      if (e instanceof ApiError && (e.code === 422 || e.code === 409)) {
        events.record({
          regarding,
          reason: "PodCIDRRejected",
          type: "Warning",
          message: e.message,
        });
      }
      throw e;
    }
  };
}
