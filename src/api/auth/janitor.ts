// Deleting a Node object forgets that node's password and revokes its token,
// as K3s deletes the node-password secret with the node: the way out when a
// node name is reused by another machine.

import { Gone, type Store } from "../../store/mod.ts";
import { sleep } from "../../util/async.ts";
import type { TaskContext } from "../../util/task.ts";
import { nodeCredentials } from "./credentials.ts";

/** Store prefix of Node objects (the API's layout, as kube-apiserver's). */
export const NODES_PREFIX = "/registry/nodes/";

export interface JanitorOptions {
  dataDir: string;
  store: Store;
  /** How often revocations by another process are looked for (default 1 s). */
  sweepMs?: number;
}

/**
 * Long-running: forgets the credentials of every Node deleted, including
 * those deleted while the server was down (nodes that registered once and
 * whose Node object is gone at start). A node that joined but has not yet
 * created its Node object keeps its credential. Also ends the watches and
 * tunnel sessions of credentials revoked by another process (`weft token
 * forget-node`), checking every sweepMs.
 */
export async function runNodeCredentialJanitor(
  opts: JanitorOptions,
  ctx: TaskContext,
): Promise<void> {
  const creds = nodeCredentials(opts.dataDir);
  const nameOf = (key: string) => key.slice(NODES_PREFIX.length);
  const sync = async () => {
    const list = await opts.store.list(NODES_PREFIX);
    const gone = await creds.observeNodes(
      list.entries.map((e) => nameOf(e.key)),
      true,
    );
    for (const n of gone) {
      ctx.log(`node ${n} no longer exists: forgot its password and token`);
    }
    return list.revision;
  };
  let from = await sync();
  ctx.ready();
  const stop = new AbortController();
  const stopped = AbortSignal.any([ctx.signal, stop.signal]);
  const sweeping = (async () => {
    while (!stopped.aborted) {
      await sleep(opts.sweepMs ?? 1000, stopped);
      await creds.sweep().catch((e) =>
        ctx.log(`cannot check for revoked credentials: ${(e as Error).message}`)
      );
    }
  })();
  try {
    await followNodes();
  } finally {
    stop.abort();
    await sweeping;
  }

  async function followNodes(): Promise<void> {
    while (!ctx.signal.aborted) {
      try {
        for await (
          const ev of opts.store.watch(NODES_PREFIX, {
            fromRevision: from,
            signal: ctx.signal,
          })
        ) {
          from = ev.revision;
          const name = nameOf(ev.entry.key);
          if (ev.type === "put") {
            await creds.observeNodes([name]);
          } else if (await creds.forget(name)) {
            ctx.log(`node ${name} deleted: forgot its password and token`);
          }
        }
        return;
      } catch (e) {
        if (!(e instanceof Gone)) throw e;
        from = await sync();
      }
    }
  }
}
