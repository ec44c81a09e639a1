// The agent's CNI socket server in the test's own process, on a socket in
// a temp dir of its own (removed on dispose), with the log lines it wrote.

import { type CniServerOptions, serveCni } from "../../src/cni/server.ts";

export interface Server extends AsyncDisposable {
  path: string;
  dir: string;
  logs: string[];
}

export async function startCniServer(
  opts: Pick<
    CniServerOptions,
    "readTimeoutMs" | "maxWaiting" | "opTimeoutMs" | "preload"
  > = {},
): Promise<Server> {
  const dir = await Deno.makeTempDir({ prefix: "weft-cni-server-" });
  const path = `${dir}/run/cni.sock`;
  const stop = new AbortController();
  const logs: string[] = [];
  let ready = () => {};
  const isReady = new Promise<void>((r) => ready = r);
  const done = serveCni({
    ...opts,
    path,
    signal: stop.signal,
    ready,
    log: (m) => logs.push(m),
  });
  await Promise.race([isReady, done]);
  return {
    path,
    dir,
    logs,
    async [Symbol.asyncDispose]() {
      stop.abort();
      await done;
      await Deno.remove(dir, { recursive: true });
    },
  };
}
