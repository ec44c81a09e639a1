// The agent's own Node object: created or updated with its addresses and
// labels (egress.k3s.io/cluster=true in pod and cluster modes, as K3s), a
// Ready condition kept fresh, and the wait for the pod CIDR the server's
// IPAM assigns.

import { KubeError } from "../kube/mod.ts";
import type { KubeClient, Node, NodeAddress } from "../kube/mod.ts";
import type { EgressMode } from "./config.ts";
import { VERSION } from "./version.ts";

export const EGRESS_LABEL = "egress.k3s.io/cluster";

/** The Kubernetes name of this machine's architecture. */
const ARCH = Deno.build.arch === "x86_64" ? "amd64" : "arm64";

/** A node's pod CIDRs (spec.podCIDRs, else spec.podCIDR); empty if none. */
function podCIDRsOf(n: Node): string[] {
  if (n.spec?.podCIDRs?.length) return n.spec.podCIDRs;
  return n.spec?.podCIDR ? [n.spec.podCIDR] : [];
}

export interface NodeSpecInput {
  name: string;
  internalIPs: string[];
  externalIPs: string[];
  egressMode: EgressMode;
  hostname?: string;
}

export function nodeLabels(n: NodeSpecInput): Record<string, string> {
  const labels: Record<string, string> = {
    "kubernetes.io/hostname": n.name,
    "kubernetes.io/os": Deno.build.os,
    "kubernetes.io/arch": ARCH,
  };
  if (n.egressMode === "pod" || n.egressMode === "cluster") {
    labels[EGRESS_LABEL] = "true";
  }
  return labels;
}

export function nodeAddresses(n: NodeSpecInput): NodeAddress[] {
  return [
    ...n.internalIPs.map((address) => ({ type: "InternalIP", address })),
    ...n.externalIPs.map((address) => ({ type: "ExternalIP", address })),
    { type: "Hostname", address: n.hostname ?? n.name },
  ];
}

function readyCondition(ready: boolean, now = new Date().toISOString()) {
  return {
    type: "Ready",
    status: ready ? "True" : "False",
    reason: ready ? "WeftAgentReady" : "WeftAgentNotReady",
    message: ready ? "weft agent is running" : "weft agent tasks are starting",
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  };
}

function nodeInfo(): Record<string, string> {
  let kernel = "";
  try {
    kernel = Deno.readTextFileSync("/proc/sys/kernel/osrelease").trim();
  } catch {
    kernel = Deno.osRelease();
  }
  return {
    kubeletVersion: `v${VERSION}+weft`,
    kubeProxyVersion: "",
    operatingSystem: Deno.build.os,
    architecture: ARCH,
    kernelVersion: kernel,
    osImage: "weft",
    containerRuntimeVersion: "",
  };
}

/** Creates the Node or brings its labels and addresses up to date. */
export async function registerNode(
  client: KubeClient,
  n: NodeSpecInput,
  signal?: AbortSignal,
): Promise<Node> {
  const path = `/api/v1/nodes/${n.name}`;
  const labels = nodeLabels(n);
  const addresses = nodeAddresses(n);
  try {
    await client.get<Node>(path, signal);
  } catch (e) {
    if (!(e instanceof KubeError) || e.status !== 404) throw e;
    await client.create<Node>("/api/v1/nodes", {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: n.name, labels },
      spec: {},
    } as Node);
  }
  await client.patch<Node>(path, { metadata: { labels } }, "strategic");
  return await client.patch<Node>(`${path}/status`, {
    status: {
      // Replaced, not merged: the merge key of addresses is `type`, so a
      // dual-stack node's two InternalIPs would collapse into one (as
      // kubelet does, kubernetes#79254).
      addresses: [{ $patch: "replace" }, ...addresses],
      conditions: [readyCondition(false)],
      nodeInfo: nodeInfo(),
    },
  }, "strategic");
}

/** Marks the Node Ready (or not), refreshing the heartbeat time. */
export async function heartbeat(
  client: KubeClient,
  name: string,
  ready: boolean,
): Promise<void> {
  await client.patch(`/api/v1/nodes/${name}/status`, {
    status: { conditions: [readyCondition(ready)] },
  }, "strategic");
}

/** Waits (list-watch on its own Node, no timeout) until spec.podCIDR is set. */
export async function waitForPodCIDR(
  client: KubeClient,
  name: string,
  signal: AbortSignal,
): Promise<string[]> {
  while (!signal.aborted) {
    const node = await client.get<Node>(`/api/v1/nodes/${name}`, signal);
    const now = podCIDRsOf(node);
    if (now.length) return now;
    for await (
      const ev of client.watch<Node>("/api/v1/nodes", {
        fieldSelector: `metadata.name=${name}`,
        resourceVersion: node.metadata.resourceVersion,
        timeoutSeconds: 60,
        signal,
      })
    ) {
      if (ev.type === "DELETED") break;
      if (ev.type !== "ADDED" && ev.type !== "MODIFIED") continue;
      const later = podCIDRsOf(ev.object);
      if (later.length) return later;
    }
  }
  throw new DOMException(
    "aborted while waiting for the pod CIDR",
    "AbortError",
  );
}

/** Flannel's annotation that every node with a lease publishes. */
const PUBLIC_IP_ANNOTATION = "flannel.alpha.coreos.com/public-ip";

/** How many other nodes hold a flannel lease (pod CIDR + public IP). */
export async function countLeases(
  client: KubeClient,
  self: string,
): Promise<number> {
  const { items } = await client.list<Node>("/api/v1/nodes");
  return items.filter((n) =>
    n.metadata.name !== self && podCIDRsOf(n).length > 0 &&
    n.metadata.annotations?.[PUBLIC_IP_ANNOTATION]
  ).length;
}
