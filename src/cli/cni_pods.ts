// The agent's pod recorder: every container weft's flannel plugin attached
// on this node (the records it leaves, src/cni/pod_record.ts) appears as a
// Pod - namespace/name from CNI_ARGS K8S_POD_NAMESPACE/K8S_POD_NAME when
// the runtime passes them (a Pod an operator created beforehand, bound to
// this node, gets its status filled and keeps its labels), else
// `default/<node>-<container id prefix>` - with spec.nodeName, status.podIP
// (s), phase Running, and the container id and interface as annotations.
// A DEL removes the record; the recorder then deletes the Pod it created
// (or clears the status it filled in). A record whose network namespace is
// gone (a container that vanished without DEL) is dropped.
//
// It reconciles the record directory against the API at start, when the
// local CNI socket served an ADD or DEL, when the directory changes (a
// plugin that ran without the agent), and periodically; an unreachable
// server only delays the records. Nothing here runs on a pod's ADD path.

import { encodeHex } from "../util/encoding.ts";
import { KubeError } from "../kube/mod.ts";
import type { KubeClient, Pod } from "../kube/mod.ts";
import {
  DEFAULT_POD_RECORD_DIR,
  type PodRecord,
  readPodRecords,
  removePodRecord,
} from "../cni/pod_record.ts";

/** The namespace of containers attached without K8S_POD_* CNI_ARGS. */
export const CNI_POD_NAMESPACE = "default";
export const ANN_CONTAINER_ID = "weft.io/container-id";
export const ANN_INTERFACE = "weft.io/interface";
/** "cni" on Pods the recorder created (deleted on DEL, not just cleared). */
export const ANN_CREATED_BY = "weft.io/created-by";

/** The container of a Pod the recorder creates (kubectl shows 1/1). */
const CONTAINER = "container";

export interface PodRecorderOptions {
  /** The API client; undefined while the agent has not joined. */
  client: () => KubeClient | undefined;
  nodeName: string;
  /** The node's addresses (status.hostIP(s)). */
  nodeIPs?: () => string[];
  /** Record directory (default /var/lib/cni/weft-pods). */
  dir?: string;
  log: (msg: string) => void;
}

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function isLabel(s: string | undefined): s is string {
  return !!s && s.length <= 63 && LABEL.test(s);
}

function isSubdomain(s: string | undefined): s is string {
  return !!s && s.length <= 253 && s.split(".").every((p) => LABEL.test(p));
}

async function hex12(s: string): Promise<string> {
  const d = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(s),
  );
  return encodeHex(new Uint8Array(d).slice(0, 6));
}

/** The Pod a record becomes: from CNI_ARGS when valid, else derived. */
export async function podKey(
  nodeName: string,
  rec: PodRecord,
): Promise<{ namespace: string; name: string }> {
  if (isLabel(rec.podNamespace) && isSubdomain(rec.podName)) {
    return { namespace: rec.podNamespace, name: rec.podName };
  }
  const id = /^[0-9a-f]{12,}$/.test(rec.containerId)
    ? rec.containerId.slice(0, 12)
    : await hex12(rec.containerId);
  return {
    namespace: CNI_POD_NAMESPACE,
    name: `${nodeName.slice(0, 240)}-${id}`,
  };
}

function desiredStatus(rec: PodRecord, hostIPs: string[], created: boolean) {
  const status: Record<string, unknown> = {
    phase: "Running",
    podIP: rec.ips[0],
    podIPs: rec.ips.map((ip) => ({ ip })),
    startTime: rec.added,
    conditions: [{ type: "Ready", status: "True" }],
  };
  if (hostIPs.length) {
    status.hostIP = hostIPs[0];
    status.hostIPs = hostIPs.map((ip) => ({ ip }));
  }
  if (created) {
    status.containerStatuses = [{
      name: CONTAINER,
      ready: true,
      started: true,
      restartCount: 0,
      image: "unknown",
      imageID: "",
      containerID: `cni://${rec.containerId}`,
      state: { running: { startedAt: rec.added } },
    }];
  }
  return status;
}

function podPath(ns: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${
    encodeURIComponent(name)
  }`;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function notFound(err: unknown): boolean {
  return err instanceof KubeError && err.isNotFound;
}

export interface ReconcileResult {
  created: number;
  updated: number;
  removed: number;
}

/** One pass: records -> Pods. Throws when the API cannot be reached. */
export async function reconcilePods(
  opts: PodRecorderOptions,
  warned = new Set<string>(),
): Promise<ReconcileResult> {
  const out = { created: 0, updated: 0, removed: 0 };
  const client = opts.client();
  if (!client) return out;
  const dir = opts.dir ?? DEFAULT_POD_RECORD_DIR;
  const node = opts.nodeName;
  const want = new Map<string, { ns: string; name: string; rec: PodRecord }>();
  for (const rec of readPodRecords(dir)) {
    if (rec.netns && !exists(rec.netns)) {
      opts.log(
        `container ${rec.containerId} is gone (no ${rec.netns}) without a CNI DEL: dropping its pod record`,
      );
      try {
        removePodRecord(dir, rec.containerId);
      } catch { /* retried next pass */ }
      continue;
    }
    const { namespace, name } = await podKey(node, rec);
    const key = `${namespace}/${name}`;
    const prev = want.get(key);
    if (!prev || prev.rec.added < rec.added) {
      want.set(key, { ns: namespace, name, rec });
    }
  }
  const bound = await client.list<Pod>("/api/v1/pods", {
    fieldSelector: `spec.nodeName=${node}`,
  });
  const mine = new Map<string, Pod>();
  for (const p of bound.items) {
    mine.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
  }
  for (const [key, p] of mine) {
    if (!p.metadata.annotations?.[ANN_CONTAINER_ID] || want.has(key)) continue;
    await release(client, p);
    out.removed++;
  }
  const hostIPs = opts.nodeIPs?.() ?? [];
  for (const [key, w] of want) {
    let pod = mine.get(key);
    if (!pod) {
      try {
        pod = await client.get<Pod>(podPath(w.ns, w.name));
      } catch (err) {
        if (!notFound(err)) throw err;
        await client.create<Pod>(`/api/v1/namespaces/${w.ns}/pods`, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name: w.name,
            namespace: w.ns,
            annotations: {
              [ANN_CONTAINER_ID]: w.rec.containerId,
              [ANN_INTERFACE]: w.rec.ifname,
              [ANN_CREATED_BY]: "cni",
            },
          },
          spec: {
            nodeName: node,
            containers: [{ name: CONTAINER, image: "unknown" }],
          },
        });
        await client.patch(`${podPath(w.ns, w.name)}/status`, {
          status: desiredStatus(w.rec, hostIPs, true),
        });
        out.created++;
        continue;
      }
    }
    if (pod.spec?.nodeName !== node) {
      if (!warned.has(key)) {
        warned.add(key);
        opts.log(
          `pod ${key} exists but is not bound to ${node} (spec.nodeName ${
            JSON.stringify(pod.spec?.nodeName ?? null)
          }): container ${w.rec.containerId} is not recorded on it`,
        );
      }
      continue;
    }
    const created = pod.metadata.annotations?.[ANN_CREATED_BY] === "cni";
    const ann = {
      [ANN_CONTAINER_ID]: w.rec.containerId,
      [ANN_INTERFACE]: w.rec.ifname,
    };
    const status = desiredStatus(w.rec, hostIPs, created);
    const have = pod.status ?? {};
    const annOk = Object.entries(ann).every(([k, v]) =>
      pod.metadata.annotations?.[k] === v
    );
    const statusOk = Object.entries(status).every(([k, v]) => same(have[k], v));
    if (annOk && statusOk) continue;
    if (!annOk) {
      await client.patch(podPath(w.ns, w.name), {
        metadata: { annotations: ann },
      });
    }
    if (!statusOk) {
      await client.patch(`${podPath(w.ns, w.name)}/status`, { status });
    }
    out.updated++;
  }
  return out;
}

/** A Pod whose container is gone: deleted if the recorder created it,
 * else its recorded status and annotations are cleared. */
async function release(client: KubeClient, p: Pod): Promise<void> {
  const path = podPath(p.metadata.namespace ?? "", p.metadata.name ?? "");
  try {
    if (p.metadata.annotations?.[ANN_CREATED_BY] === "cni") {
      await client.delete(path);
      return;
    }
    await client.patch(`${path}/status`, {
      status: {
        phase: "Pending",
        podIP: null,
        podIPs: null,
        hostIP: null,
        hostIPs: null,
        startTime: null,
        conditions: null,
        containerStatuses: null,
      },
    });
    await client.patch(path, {
      metadata: {
        annotations: { [ANN_CONTAINER_ID]: null, [ANN_INTERFACE]: null },
      },
    });
  } catch (err) {
    if (!notFound(err)) throw err;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Wakes the recorder's loop (an ADD or DEL was served). */
export class RecorderWake {
  #wake: (() => void) | null = null;
  #pending = false;

  poke(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Resolves on a poke, after `ms`, or when `signal` aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#pending || signal.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = null;
        this.#pending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }
}

export interface RunRecorderOptions extends PodRecorderOptions {
  signal: AbortSignal;
  wake?: RecorderWake;
  /** Time between passes (default 30 s; 5 s after a failed pass). */
  intervalMs?: number;
}

/** Reconciles until `signal` aborts; never throws for an API failure. */
export async function runPodRecorder(opts: RunRecorderOptions): Promise<void> {
  const dir = opts.dir ?? DEFAULT_POD_RECORD_DIR;
  const wake = opts.wake ?? new RecorderWake();
  const interval = opts.intervalMs ?? 30_000;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const watcher = Deno.watchFs(dir, { recursive: false });
  const watching = (async () => {
    try {
      for await (const _ of watcher) wake.poke();
    } catch { /* closed */ }
  })();
  const warned = new Set<string>();
  let lastError = "";
  try {
    while (!opts.signal.aborted) {
      let failed = false;
      try {
        const r = await reconcilePods({ ...opts, dir }, warned);
        if (r.created || r.updated || r.removed) {
          opts.log(
            `pods: ${r.created} recorded, ${r.updated} updated, ${r.removed} removed`,
          );
        }
        lastError = "";
      } catch (err) {
        failed = true;
        const msg = (err as Error).message;
        if (msg !== lastError) opts.log(`pods: cannot record yet: ${msg}`);
        lastError = msg;
      }
      await wake.wait(
        failed ? Math.min(interval, 5_000) : interval,
        opts.signal,
      );
      // Let a burst of changes (ADD, record, saved state) settle.
      if (!opts.signal.aborted) await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    watcher.close();
    await watching;
  }
}
