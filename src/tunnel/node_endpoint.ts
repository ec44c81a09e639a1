// The node endpoint the server reaches through the tunnel (K3s's kubelet
// port): /healthz, /status and /metrics (Prometheus; prom-client is loaded
// on the first scrape), on 127.0.0.1:10250 and [::1]:10250 by default.

import { metricsResponse } from "../metrics/mod.ts";
import { listenLoopback } from "../net/mod.ts";
import type { TaskContext } from "../util/task.ts";

export interface NodeEndpointOptions {
  /** Default 10250; 0 picks a free port (see onListen). */
  port?: number;
  /** Default: both loopback addresses (127.0.0.1 and ::1, where present). */
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
  const handler = (req: Request) => {
    const path = new URL(req.url).pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405 });
    }
    if (path === "/healthz") return new Response("ok");
    if (path === "/status") return Response.json(opts.status());
    if (path === "/metrics") return metricsResponse(req);
    return new Response("not found\n", { status: 404 });
  };
  const open = (hostname: string, port: number) =>
    Deno.serve({
      hostname,
      port,
      signal: ctx.signal,
      onListen: () => {},
      onError: (e) => {
        ctx.log(`node endpoint: ${(e as Error).message}`);
        return new Response("internal error\n", { status: 500 });
      },
    }, handler);
  const port = opts.port ?? 10250;
  const plan = {
    open,
    portOf: (s: Deno.HttpServer<Deno.NetAddr>) => s.addr.port,
    close: (s: Deno.HttpServer) => void s.shutdown(),
  };
  // Both loopback families by default: the server may name either.
  const servers = opts.host
    ? [open(opts.host, port)]
    : listenLoopback(port, plan);
  opts.onListen?.(servers[0].addr);
  ctx.ready();
  await Promise.all(servers.map((s) => s.finished));
}
