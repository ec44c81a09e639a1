// The agent-like CNI server of the tests and the CNI bench
// (./_cni_server.ts) as a child process, inside a test host's namespace or
// this process's: ready once it printed "ready"; every operation it served
// (after its deferred work) is one JSON line.

import type { Netns } from "../harness/netns.ts";

const SERVER = new URL("./_cni_server.ts", import.meta.url).pathname;

export interface Served {
  name: string;
  command: string;
  code: number;
  /** How long the plugin ran inside the server (ms). */
  ms: number;
}

/**
 * The agent-like server (a child process) inside `host` (null: this
 * process's namespace); its log lines go to this process's stderr when
 * `logs` is set.
 */
export async function startServer(
  host: Netns | null,
  socket: string,
  logs = false,
) {
  const deno = [Deno.execPath(), "run", "-A", SERVER, socket];
  const argv = host ? ["ip", "netns", "exec", host.name, ...deno] : deno;
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: logs ? "inherit" : "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let buf = "";
  const served: Served[] = [];
  let ready = () => {};
  const isReady = new Promise<void>((r) => ready = r);
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === "ready") ready();
        else served.push(JSON.parse(line));
      }
    }
  })();
  await Promise.race([
    isReady,
    child.status.then((s) => {
      throw new Error(`the CNI server exited ${s.code}`);
    }),
  ]);
  return {
    served,
    /**
     * Resolves once `n` operations were served. A served operation is
     * printed after its deferred work (PluginContext.defer) ran, so what a
     * DEL deletes after its answer is gone by then. Bounded: 10 s.
     */
    async settled(n: number): Promise<void> {
      const end = Date.now() + 10_000;
      while (served.length < n) {
        if (Date.now() > end) {
          throw new Error(`${served.length} operations served, not ${n}`);
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    },
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
      await pump;
    },
  };
}
