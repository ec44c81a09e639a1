// Where the server's CONNECT routing reads nodes and pods from: the API's
// store (in the server process) or a KubeClient (anywhere).

import type { KubeClient, Node, Pod } from "../kube/mod.ts";
import type { Store } from "../store/mod.ts";

export interface ClusterView {
  listNodes: () => Promise<Node[]>;
  listPods: () => Promise<Pod[]>;
}

/** Reads the objects the API keeps under /registry/{nodes,pods}/; a list
 * is parsed again only when the store's revision has moved (a CONNECT
 * does not parse every Pod of the cluster). */
export function storeView(store: Store): ClusterView {
  const cache = new Map<string, { revision: number; items: unknown[] }>();
  const list = async <T>(prefix: string): Promise<T[]> => {
    const revision = await store.revision();
    const hit = cache.get(prefix);
    if (hit?.revision === revision) return hit.items as T[];
    const r = await store.list(prefix);
    const items = r.entries.map((e) => JSON.parse(e.value) as T);
    cache.set(prefix, { revision: r.revision, items });
    return items;
  };
  return {
    listNodes: () => list<Node>("/registry/nodes/"),
    listPods: () => list<Pod>("/registry/pods/"),
  };
}

export function kubeView(client: KubeClient): ClusterView {
  return {
    listNodes: async () => (await client.list<Node>("/api/v1/nodes")).items,
    listPods: async () => (await client.list<Pod>("/api/v1/pods")).items,
  };
}
