// Deleting a Node object forgets that node's password and revokes its token,
// as K3s deletes the node-password secret with the node: the way out when a
// node name is reused by another machine.

import { Gone, type Store } from "../../store/mod.ts";
import { nodeCredentials } from "./credentials.ts";

/** Store prefix of Node objects (the API's layout, as kube-apiserver's). */
export const NODES_PREFIX = "/registry/nodes/";

export interface JanitorOptions {
  dataDir: string;
  store: Store;
}

export interface TaskContext {
  signal: AbortSignal;
  ready: () => void;
  log: (msg: string) => void;
}

/** Long-running: forgets the credentials of every Node deleted from now on. */
export async function runNodeCredentialJanitor(
  opts: JanitorOptions,
  ctx: TaskContext,
): Promise<void> {
  const creds = nodeCredentials(opts.dataDir);
  let from = await opts.store.revision();
  ctx.ready();
  while (!ctx.signal.aborted) {
    try {
      for await (
        const ev of opts.store.watch(NODES_PREFIX, {
          fromRevision: from,
          signal: ctx.signal,
        })
      ) {
        from = ev.revision;
        if (ev.type !== "delete") continue;
        const name = ev.entry.key.slice(NODES_PREFIX.length);
        if (await creds.forget(name)) {
          ctx.log(`node ${name} deleted: forgot its password and token`);
        }
      }
      return;
    } catch (e) {
      if (!(e instanceof Gone)) throw e;
      from = await opts.store.revision();
    }
  }
}
