// Where the server's CONNECT routing reads nodes and pods from: the API's
// store (in the server process) or a KubeClient (anywhere).

import type { KubeClient, Node, Pod } from "../kube/mod.ts";
import type { Store } from "../store/mod.ts";

export interface ClusterView {
  listNodes: () => Promise<Node[]>;
  listPods: () => Promise<Pod[]>;
}

/** Reads the objects the API keeps under /registry/{nodes,pods}/. */
export function storeView(store: Store): ClusterView {
  const list = async <T>(prefix: string) =>
    (await store.list(prefix)).entries.map((e) => JSON.parse(e.value) as T);
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
