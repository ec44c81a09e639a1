// What the subnet manager needs from the cluster, as a narrow interface,
// and its implementation over kube/'s KubeClient.

import { type KubeClient, KubeError, type Node } from "../kube/mod.ts";
import { FlannelError } from "./errors.ts";
import type { KubeNode } from "./lease.ts";

/**
 * A permanent authentication/authorization failure: the server rejected
 * this node's credential (401, e.g. revoked by `weft token forget-node` or
 * by deleting the Node) or forbids what flannel needs (403). Retrying with
 * the same credential cannot help; the task ends so that it is restarted
 * (K3s's flannel exits on a fatal watch error).
 */
export function credentialRejected(e: unknown): e is KubeError {
  return e instanceof KubeError && (e.status === 401 || e.status === 403);
}

/** The FlannelError a rejected credential ends the task with. */
export function rejectedError(what: string, e: KubeError): FlannelError {
  return new FlannelError(
    `${what}: the API server rejected this node's credential (${e.status}); stopping so that the agent joins again`,
    { cause: e },
  );
}

export interface NodeHandlers {
  added(node: KubeNode): void | Promise<void>;
  updated(node: KubeNode): void | Promise<void>;
  deleted(node: KubeNode): void | Promise<void>;
  /** After each complete (re)list has been delivered. */
  synced(): void | Promise<void>;
}

export interface NodeSource {
  /** The node, or null when it does not exist (yet). */
  getNode(name: string, signal?: AbortSignal): Promise<KubeNode | null>;
  /** JSON merge patch of metadata.annotations (null deletes a key). */
  patchAnnotations(
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void>;
  /** Sets one status condition (strategic merge on the status subresource). */
  setCondition(
    name: string,
    condition: {
      type: string;
      status: string;
      reason: string;
      message: string;
    },
  ): Promise<void>;
  /**
   * Lists and watches all nodes until the signal aborts; `done` rejects
   * (and the watch stops) when the credential is rejected (401/403).
   */
  watchNodes(
    handlers: NodeHandlers,
    signal: AbortSignal,
    onError?: (e: unknown) => void,
  ): { done: Promise<void> };
}

const path = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;

/** A NodeSource over the Kubernetes API. */
export function kubeNodeSource(client: KubeClient): NodeSource {
  return {
    async getNode(name, signal) {
      try {
        return await client.get<Node>(path(name), signal) as KubeNode;
      } catch (e) {
        if (e instanceof KubeError && e.isNotFound) return null;
        throw e;
      }
    },
    async patchAnnotations(name, annotations) {
      await client.patch(path(name), { metadata: { annotations } }, "merge");
    },
    async setCondition(name, c) {
      const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
      await client.patch(`${path(name)}/status`, {
        status: {
          conditions: [{
            ...c,
            lastTransitionTime: now,
            lastHeartbeatTime: now,
          }],
        },
      }, "strategic");
    },
    watchNodes(h, signal, onError) {
      // The informer retries every error; a rejected credential stops it.
      const stop = new AbortController();
      const forward = () => stop.abort();
      signal.addEventListener("abort", forward, { once: true });
      if (signal.aborted) stop.abort();
      let fatal: KubeError | undefined;
      const inf = client.informer<Node>("/api/v1/nodes", {
        added: (n) => h.added(n as KubeNode),
        updated: (n) => h.updated(n as KubeNode),
        deleted: (n) => h.deleted(n as KubeNode),
        synced: () => h.synced(),
        error: (e) => {
          if (credentialRejected(e)) {
            fatal ??= e;
            stop.abort();
          } else onError?.(e);
        },
      }, { signal: stop.signal });
      const done = inf.done.finally(() =>
        signal.removeEventListener("abort", forward)
      ).then(() => {
        if (fatal) throw rejectedError("node watch", fatal);
      });
      return { done };
    },
  };
}
