// The agent's cni-socket task: serves the local CNI socket (the exec'd
// plugins' thin clients hand their operations to it) and records the
// attached containers as Pods, woken by each ADD or DEL it served. Either
// failing stops both, and the supervisor restarts the task.

import type { TaskContext } from "../supervisor/mod.ts";
import type { KubeClient } from "../kube/mod.ts";
import { serveCni } from "../cni/server.ts";
import { RecorderWake, runPodRecorder } from "./cni_pods.ts";

export interface CniServeInput {
  nodeName: string;
  client: () => KubeClient | undefined;
  nodeIPs: () => string[];
  /** Socket path and record directory (defaults: the plugins' own). */
  socket?: string;
  recordDir?: string;
}

export async function serveCniAndRecordPods(
  input: CniServeInput,
  ctx: TaskContext,
): Promise<void> {
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  const wake = new RecorderWake();
  const fail = (err: unknown) => {
    stop.abort();
    throw err;
  };
  const results = await Promise.allSettled([
    serveCni({
      path: input.socket,
      signal,
      log: ctx.log,
      ready: ctx.ready,
      onServed: (op) => {
        const cmd = op.env.CNI_COMMAND;
        if (op.reply.code === 0 && (cmd === "ADD" || cmd === "DEL")) {
          wake.poke();
        }
      },
    }).catch(fail),
    runPodRecorder({
      client: input.client,
      nodeName: input.nodeName,
      nodeIPs: input.nodeIPs,
      dir: input.recordDir,
      log: ctx.log,
      signal,
      wake,
    }).catch(fail),
  ]);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}
