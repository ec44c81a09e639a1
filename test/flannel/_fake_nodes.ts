// An in-memory NodeSource for flannel tests: nodes held in a map, merge
// patches applied, watchers told about every change.

import type {
  KubeNode,
  NodeHandlers,
  NodeSource,
} from "../../src/flannel/mod.ts";

export class FakeNodes implements NodeSource {
  nodes = new Map<string, KubeNode>();
  patches: { name: string; annotations: Record<string, string | null> }[] = [];
  conditions: { name: string; type: string; status: string; reason: string }[] =
    [];
  #watchers = new Set<NodeHandlers>();

  put(node: KubeNode): void {
    const existed = this.nodes.has(node.metadata.name);
    this.nodes.set(node.metadata.name, structuredClone(node));
    for (const w of this.#watchers) {
      if (existed) w.updated(structuredClone(node));
      else w.added(structuredClone(node));
    }
  }

  remove(name: string): void {
    const n = this.nodes.get(name);
    if (!n) return;
    this.nodes.delete(name);
    for (const w of this.#watchers) w.deleted(structuredClone(n));
  }

  getNode(name: string): Promise<KubeNode | null> {
    const n = this.nodes.get(name);
    return Promise.resolve(n ? structuredClone(n) : null);
  }

  patchAnnotations(
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void> {
    const n = this.nodes.get(name);
    if (!n) return Promise.reject(new Error(`node ${name} not found`));
    this.patches.push({ name, annotations });
    const a = { ...(n.metadata.annotations ?? {}) };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete a[k];
      else a[k] = v;
    }
    this.put({ ...n, metadata: { ...n.metadata, annotations: a } });
    return Promise.resolve();
  }

  setCondition(
    name: string,
    c: { type: string; status: string; reason: string },
  ): Promise<void> {
    this.conditions.push({ name, ...c });
    return Promise.resolve();
  }

  watchNodes(h: NodeHandlers, signal: AbortSignal): { done: Promise<void> } {
    // The watcher is registered before the initial list is delivered, so a
    // node put at any time after this call is seen (handlers are called in
    // order; the subnet manager queues what they start).
    this.#watchers.add(h);
    for (const n of this.nodes.values()) h.added(structuredClone(n));
    h.synced();
    const done = new Promise<void>((resolve) => {
      const stop = () => {
        this.#watchers.delete(h);
        resolve();
      };
      if (signal.aborted) return stop();
      signal.addEventListener("abort", stop, { once: true });
    });
    return { done };
  }
}

export const PREFIX = "flannel.alpha.coreos.com/";

/** A remote node as another flannel (vxlan) publishes it. */
export function vxlanNode(
  name: string,
  podCIDR: string,
  publicIP: string,
  mac: string,
  backendType = "vxlan",
): KubeNode {
  return {
    metadata: {
      name,
      annotations: {
        [`${PREFIX}kube-subnet-manager`]: "true",
        [`${PREFIX}backend-type`]: backendType,
        [`${PREFIX}backend-data`]: backendType === "vxlan"
          ? JSON.stringify({ VNI: 1, VtepMAC: mac })
          : "null",
        [`${PREFIX}public-ip`]: publicIP,
      },
    },
    spec: { podCIDR, podCIDRs: [podCIDR] },
  };
}
