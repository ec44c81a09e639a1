// /metrics as an HTTP response (the API server's route and the agent's node
// endpoint both answer with it).

import { exposition } from "./expose.ts";

export async function metricsResponse(req: Request): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("method not allowed\n", {
      status: 405,
      headers: { allow: "GET, HEAD" },
    });
  }
  const e = await exposition();
  return new Response(req.method === "HEAD" ? null : e.body, {
    headers: { "content-type": e.contentType },
  });
}
