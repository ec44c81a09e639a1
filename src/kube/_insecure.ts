// HTTPS without certificate verification, for the two places that need it:
// an agent's first GET /cacerts (before it knows the CA; the token's hash
// checks the answer) and kubeconfigs with insecure-skip-tls-verify. Deno's
// fetch cannot skip verification per client, node:https can.

import type { IncomingMessage } from "node:http";

export interface InsecureInit {
  method?: string;
  headers?: Headers;
  body?: string;
  signal?: AbortSignal;
}

function toStream(res: IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      res.on("data", (chunk: Uint8Array) => {
        controller.enqueue(new Uint8Array(chunk));
        if ((controller.desiredSize ?? 1) <= 0) res.pause();
      });
      res.on("end", () => controller.close());
      res.on("error", (e: Error) => controller.error(e));
    },
    pull() {
      res.resume();
    },
    cancel() {
      res.destroy();
    },
  });
}

/**
 * fetch() over node:https with rejectUnauthorized: false. Node's HTTP
 * modules are loaded on the first call, not by every user of kube/.
 */
export async function insecureFetch(
  url: string,
  init: InsecureInit = {},
): Promise<Response> {
  const { default: https } = await import("node:https");
  return await new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    init.headers?.forEach((v, k) => headers[k] = v);
    if (init.body !== undefined) {
      headers["content-length"] = String(
        new TextEncoder().encode(init.body).length,
      );
    }
    const req = https.request(url, {
      method: init.method ?? "GET",
      headers,
      rejectUnauthorized: false,
      signal: init.signal,
    }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
        else if (v !== undefined) h.set(k, String(v));
      }
      const status = res.statusCode ?? 502;
      const noBody = status === 204 || status === 304 ||
        init.method === "HEAD";
      resolve(
        new Response(noBody ? null : toStream(res), {
          status,
          statusText: res.statusMessage,
          headers: h,
        }),
      );
    });
    req.on("error", reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}
