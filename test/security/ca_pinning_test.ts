// Issue 11 row 3: the cluster CA is the only trust anchor of every agent ->
// server connection. A man in the middle whose certificate is valid under a
// CA the agent process's default store trusts (DENO_CERT here; a public CA
// in the wild) serves the real cluster CA at /cacerts, so the token's hash
// matches; join, the API client and the tunnel must still refuse it before
// any credential is sent.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  createCA,
  ensureServerPKI,
  issueCert,
  parseToken,
} from "../../src/tls/mod.ts";

/** A TLS server on 127.0.0.1 that records every byte it is sent and
 * answers GET /cacerts with `caPem` (anything else: 401). */
function mitmServer(cert: string, key: string, caPem: string) {
  const l = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
  const received: string[] = [];
  const conns = new Set<Deno.Conn>();
  const serve = async (c: Deno.Conn) => {
    const buf = new Uint8Array(64 * 1024);
    let text = "";
    for (;;) {
      const n = await c.read(buf);
      if (n === null) return;
      text += new TextDecoder().decode(buf.subarray(0, n));
      received.push(new TextDecoder().decode(buf.subarray(0, n)));
      if (!text.includes("\r\n\r\n")) continue;
      const body = text.startsWith("GET /cacerts ") ? caPem : "";
      const status = body ? "200 OK" : "401 Unauthorized";
      await c.write(new TextEncoder().encode(
        `HTTP/1.1 ${status}\r\nContent-Length: ${
          new TextEncoder().encode(body).length
        }\r\nConnection: close\r\n\r\n${body}`,
      ));
      return;
    }
  };
  const loop = (async () => {
    for await (const c of l) {
      conns.add(c);
      serve(c).catch(() => {}).finally(() => {
        conns.delete(c);
        try {
          c.close();
        } catch {
          // closed already
        }
      });
    }
  })().catch(() => {});
  return {
    url: `https://127.0.0.1:${(l.addr as Deno.NetAddr).port}`,
    received,
    async [Symbol.asyncDispose]() {
      l.close();
      await loop;
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed already
        }
      }
    },
  };
}

Deno.test("agent -> server: a certificate from a CA outside the cluster CA is refused before any token is sent (join, API client, tunnel)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-t-ca-pinning-" });
  try {
    const cluster = await ensureServerPKI({
      dataDir: `${dir}/server`,
      addresses: ["127.0.0.1"],
      hostname: "localhost",
    });
    // The interceptor's CA: trusted by the agent process's default store.
    const other = await createCA("trusted-by-default");
    const mitmCert = await issueCert(other, {
      subject: { commonName: "127.0.0.1" },
      sans: ["127.0.0.1", "localhost"],
      usages: ["serverAuth"],
    });
    await Deno.writeTextFile(`${dir}/other-ca.pem`, other.certPem);
    await Deno.writeTextFile(`${dir}/cluster-ca.pem`, cluster.caPem);
    await using mitm = mitmServer(
      mitmCert.certPem,
      mitmCert.keyPem,
      cluster.caPem,
    );
    const nodeToken = "node-token-that-must-not-leak";
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./_pinned_agent.ts", import.meta.url).pathname,
        mitm.url,
        `${dir}/cluster-ca.pem`,
        cluster.agentToken,
        nodeToken,
        `${dir}/agent`,
      ],
      env: { DENO_CERT: `${dir}/other-ca.pem` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, stderr);
    const got = JSON.parse(new TextDecoder().decode(out.stdout).trim());
    console.log(got);
    // The interceptor is trusted by the process's default store...
    assertStringIncludes(got.defaultStore, "trusted");
    // ...but not by any connection that pins the cluster CA.
    assertStringIncludes(got.join, "refused");
    assertStringIncludes(got.join, "does not verify");
    assertStringIncludes(got.client, "refused");
    assertStringIncludes(got.tunnel, "refused");
    const seen = mitm.received.join("");
    // It saw the unverified GET /cacerts (and the default-store control),
    // never a credential.
    assertStringIncludes(seen, "GET /cacerts");
    assert(!/authorization/i.test(seen), seen);
    assert(!seen.includes(nodeToken), seen);
    assert(!seen.includes(parseToken(cluster.agentToken).password), seen);
    assert(!seen.includes("node-credential"), seen);
    assert(!seen.includes("/v1-weft/connect"), seen);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
