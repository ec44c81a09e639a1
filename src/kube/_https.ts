// HTTPS through node:https, for every agent -> server request: its `ca`
// option *replaces* the default roots (and DENO_CERT), so a pinned cluster
// CA is the only trust anchor, where Deno's fetch with
// createHttpClient({ caCerts }) only adds to them. Also the two places that
// skip verification: an agent's first GET /cacerts (before it knows the CA;
// the token's hash checks the answer) and kubeconfigs with
// insecure-skip-tls-verify.

import https from "node:https";
import type { IncomingMessage } from "node:http";
import { concatBytes } from "../util/sync_io.ts";

export interface HttpsInit {
  method?: string;
  headers?: Headers;
  body?: string;
  signal?: AbortSignal;
}

export interface HttpsTrust {
  /** PEM: the only CA the server may chain to (default roots otherwise). */
  ca?: string;
  /** Skip verification altogether. */
  insecure?: boolean;
  /** Client certificate and key (PEM). */
  cert?: string;
  key?: string;
}

function toStream(res: IncomingMessage): ReadableStream<Uint8Array> {
  // After a cancel the response may still end or fail: ignored then.
  let open = true;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      res.on("data", (chunk: Uint8Array) => {
        if (!open) return;
        controller.enqueue(new Uint8Array(chunk));
        if ((controller.desiredSize ?? 1) <= 0) res.pause();
      });
      res.on("end", () => {
        if (open) controller.close();
        open = false;
      });
      res.on("error", (e: Error) => {
        if (open) controller.error(e);
        open = false;
      });
    },
    pull() {
      res.resume();
    },
    cancel() {
      open = false;
      res.destroy();
    },
  });
}

/** The connections of one trust setting. Not kept alive: an agent's
 * requests are few (its watches are long-lived), and an idle pooled
 * connection made the API server's close() hang in tests (its front
 * listener's piping of an idle keep-alive connection). */
export function httpsAgent(trust: HttpsTrust): https.Agent {
  return new https.Agent({
    keepAlive: false,
    ca: trust.ca,
    cert: trust.cert,
    key: trust.key,
    rejectUnauthorized: !trust.insecure,
  });
}

/** fetch() over node:https through `agent` (made by httpsAgent). */
export function httpsFetch(
  url: string,
  init: HttpsInit,
  agent: https.Agent,
): Promise<Response> {
  return new Promise((resolve, reject) => {
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
      agent,
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
      if (noBody) res.resume();
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

/** The answer's body was larger than the caller allows. */
export class BodyTooLarge extends Error {
  override name = "BodyTooLarge";
}

async function readCapped(
  res: Response,
  max: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of res.body ?? []) {
    n += c.length;
    if (n > max) {
      await res.body?.cancel().catch(() => {});
      throw new BodyTooLarge(`answer body larger than ${max} bytes`);
    }
    parts.push(c);
  }
  return concatBytes(parts, n);
}

/** One request with its own pool of `trust`, closed once the answer (at
 * most `maxBody` bytes, default 1 MiB) has been read. */
export async function httpsFetchOnce(
  url: string,
  init: HttpsInit,
  trust: HttpsTrust,
  maxBody = 1024 * 1024,
): Promise<Response> {
  const agent = httpsAgent(trust);
  try {
    const res = await httpsFetch(url, init, agent);
    const body = await readCapped(res, maxBody);
    return new Response(
      res.status === 204 || res.status === 304 ? null : body,
      {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      },
    );
  } finally {
    agent.destroy();
  }
}
