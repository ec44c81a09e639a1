// The node endpoint the server reaches through the tunnel (K3s's kubelet
// port): /healthz and /status, on 127.0.0.1:10250 by default.

import type { TaskContext } from "./agent.ts";

export interface NodeEndpointOptions {
  /** Default 10250; 0 picks a free port (see onListen). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The node's status document (node name, uptime, backend, ...). */
  status: () => unknown;
  onListen?: (addr: Deno.NetAddr) => void;
}

/** Serves until `ctx.signal` aborts. */
export async function runNodeEndpoint(
  opts: NodeEndpointOptions,
  ctx: TaskContext,
): Promise<void> {
  const server = Deno.serve({
    hostname: opts.host ?? "127.0.0.1",
    port: opts.port ?? 10250,
    signal: ctx.signal,
    onListen: (addr) => {
      opts.onListen?.(addr);
      ctx.ready();
    },
    onError: (e) => {
      ctx.log(`node endpoint: ${(e as Error).message}`);
      return new Response("internal error\n", { status: 500 });
    },
  }, (req) => {
    const path = new URL(req.url).pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405 });
    }
    if (path === "/healthz") return new Response("ok");
    if (path === "/status") return Response.json(opts.status());
    return new Response("not found\n", { status: 404 });
  });
  await server.finished;
}
