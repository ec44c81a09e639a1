// The node endpoint listens on both loopback addresses by default, so the
// server's tunnel may name 127.0.0.1 or ::1; a given host binds only it.

import { assertEquals } from "@std/assert";
import { runNodeEndpoint } from "../../src/tunnel/mod.ts";

async function healthz(url: string): Promise<string> {
  try {
    const r = await fetch(`${url}/healthz`);
    return await r.text();
  } catch {
    return "unreachable";
  }
}

async function withEndpoint(
  host: string | undefined,
  fn: (port: number) => Promise<void>,
): Promise<void> {
  const ac = new AbortController();
  const port = Promise.withResolvers<number>();
  const done = runNodeEndpoint({
    port: 0,
    host,
    status: () => ({}),
    onListen: (a) => port.resolve(a.port),
  }, { signal: ac.signal, ready: () => {}, log: () => {} });
  try {
    await fn(await port.promise);
  } finally {
    ac.abort();
    await done;
  }
}

Deno.test("runNodeEndpoint: by default on 127.0.0.1 and [::1], one port", async () => {
  await withEndpoint(undefined, async (port) => {
    assertEquals(await healthz(`http://127.0.0.1:${port}`), "ok");
    assertEquals(await healthz(`http://[::1]:${port}`), "ok");
  });
});

Deno.test("runNodeEndpoint: a given host binds only that address", async () => {
  await withEndpoint("::1", async (port) => {
    assertEquals(await healthz(`http://[::1]:${port}`), "ok");
    assertEquals(await healthz(`http://127.0.0.1:${port}`), "unreachable");
  });
});
