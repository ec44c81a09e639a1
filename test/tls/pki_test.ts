import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { join } from "node:path";
import { run } from "../harness/netns.ts";
import {
  caHashOf,
  CertificateError,
  certInfo,
  ensureServerPKI,
  parseToken,
} from "../../src/tls/mod.ts";

async function openssl(
  args: string[],
  stdin?: string,
): Promise<{ code: number; out: string }> {
  const r = await run(["openssl", ...args], { stdin });
  return { code: r.code, out: r.stdout + r.stderr };
}

/** `openssl verify` accepts `certFile` as signed by the CA in `caFile`. */
async function assertVerifies(caFile: string, certFile: string) {
  const verify = await openssl(["verify", "-CAfile", caFile, certFile]);
  assertEquals(verify.code, 0, verify.out);
}

async function withDataDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-pki-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const base = { hostname: "node-a", addresses: ["192.0.2.10", "2001:db8::10"] };

Deno.test("ensureServerPKI() writes a CA and serving cert that openssl verifies", () =>
  withDataDir(async (dir) => {
    const pki = await ensureServerPKI({
      dataDir: dir,
      ...base,
      tlsSans: ["api.example.com", "203.0.113.7"],
    });
    const tlsDir = join(dir, "server", "tls");
    for (
      const f of [
        "server-ca.crt",
        "server-ca.key",
        "serving.crt",
        "serving.key",
      ]
    ) {
      assert((await Deno.stat(join(tlsDir, f))).isFile, f);
    }
    await assertVerifies(pki.caCertFile, pki.certFile);
    const ca = await openssl([
      "x509",
      "-noout",
      "-text",
      "-in",
      pki.caCertFile,
    ]);
    assertStringIncludes(ca.out, "CA:TRUE");
    assertStringIncludes(ca.out, "ASN1 OID: prime256v1");
    assertStringIncludes(ca.out, "Certificate Sign");
    const leaf = await openssl([
      "x509",
      "-noout",
      "-text",
      "-in",
      pki.certFile,
    ]);
    assertStringIncludes(leaf.out, "ecdsa-with-SHA256");
    assertStringIncludes(leaf.out, "TLS Web Server Authentication");
    for (
      const san of [
        "DNS:localhost",
        "DNS:node-a",
        "DNS:api.example.com",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "IP Address:192.0.2.10",
        "IP Address:2001:DB8:0:0:0:0:0:10",
        "IP Address:203.0.113.7",
      ]
    ) assertStringIncludes(leaf.out, san);
    const key = await openssl(["pkey", "-in", pki.keyFile, "-noout", "-text"]);
    assertEquals(key.code, 0, key.out);
  }));

Deno.test("ensureServerPKI() keys are 0600 and the key matches the certificate", () =>
  withDataDir(async (dir) => {
    const pki = await ensureServerPKI({ dataDir: dir, ...base });
    for (
      const f of [pki.caKeyFile, pki.keyFile, pki.tokenFile, pki.agentTokenFile]
    ) {
      assertEquals((await Deno.stat(f)).mode! & 0o777, 0o600, f);
    }
    const fromCert = await openssl([
      "x509",
      "-noout",
      "-pubkey",
      "-in",
      pki.certFile,
    ]);
    const fromKey = await openssl(["pkey", "-pubout", "-in", pki.keyFile]);
    assertEquals(fromCert.out, fromKey.out);
  }));

Deno.test("a TLS client trusting only the CA connects by IP and by name", () =>
  withDataDir(async (dir) => {
    const pki = await ensureServerPKI({ dataDir: dir, ...base });
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: pki.certPem,
      key: pki.keyPem,
    });
    const port = listener.addr.port;
    const serve = (async () => {
      for (let i = 0; i < 2; i++) {
        const conn = await listener.accept();
        await conn.handshake();
        await conn.write(new TextEncoder().encode("hello"));
        conn.close();
      }
    })();
    try {
      for (const hostname of ["127.0.0.1", "localhost"]) {
        const conn = await Deno.connectTls({
          hostname,
          port,
          caCerts: [pki.caPem],
        });
        const buf = new Uint8Array(5);
        let n = 0;
        while (n < 5) {
          const r = await conn.read(buf.subarray(n));
          if (r === null) break;
          n += r;
        }
        conn.close();
        assertEquals(new TextDecoder().decode(buf), "hello");
      }
      await serve;
    } finally {
      listener.close();
    }
  }));

Deno.test("a TLS client with another CA is refused", () =>
  withDataDir(async (dir) => {
    const pki = await ensureServerPKI({ dataDir: join(dir, "a"), ...base });
    const other = await ensureServerPKI({ dataDir: join(dir, "b"), ...base });
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: pki.certPem,
      key: pki.keyPem,
    });
    const accepted = listener.accept().then(async (c) => {
      await c.handshake().catch(() => {});
      c.close();
    });
    try {
      await assertRejects(async () => {
        const conn = await Deno.connectTls({
          hostname: "127.0.0.1",
          port: listener.addr.port,
          caCerts: [other.caPem],
        });
        try {
          await conn.handshake();
        } finally {
          conn.close();
        }
      });
      await accepted;
    } finally {
      listener.close();
    }
  }));

Deno.test("ensureServerPKI() is idempotent: CA, serving cert and tokens are kept", () =>
  withDataDir(async (dir) => {
    const a = await ensureServerPKI({ dataDir: dir, ...base });
    const b = await ensureServerPKI({ dataDir: dir, ...base });
    assertEquals(b.caPem, a.caPem);
    assertEquals(b.certPem, a.certPem);
    assertEquals(b.token, a.token);
    assertEquals(b.agentToken, a.agentToken);
  }));

Deno.test("ensureServerPKI() re-issues the serving cert when SANs change and keeps the CA", () =>
  withDataDir(async (dir) => {
    const a = await ensureServerPKI({ dataDir: dir, ...base });
    const b = await ensureServerPKI({
      dataDir: dir,
      ...base,
      tlsSans: ["new.example"],
    });
    assertEquals(b.caPem, a.caPem);
    assertNotEquals(b.certPem, a.certPem);
    assert(certInfo(b.certPem).sans.includes("new.example"));
    assertEquals(b.token, a.token);
    await assertVerifies(b.caCertFile, b.certFile);
  }));

Deno.test("ensureServerPKI() re-issues a serving cert that another CA signed", () =>
  withDataDir(async (dir) => {
    const a = await ensureServerPKI({ dataDir: join(dir, "a"), ...base });
    const b = await ensureServerPKI({ dataDir: join(dir, "b"), ...base });
    await Deno.writeTextFile(b.certFile, a.certPem);
    await Deno.writeTextFile(b.keyFile, a.keyPem);
    const again = await ensureServerPKI({ dataDir: join(dir, "b"), ...base });
    assertNotEquals(again.certPem, a.certPem);
    await assertVerifies(again.caCertFile, again.certFile);
  }));

Deno.test("ensureServerPKI() refuses a CA certificate without its key", () =>
  withDataDir(async (dir) => {
    const a = await ensureServerPKI({ dataDir: dir, ...base });
    await Deno.remove(a.caKeyFile);
    await assertRejects(
      () => ensureServerPKI({ dataDir: dir, ...base }),
      CertificateError,
      "server-ca.key is missing",
    );
  }));

Deno.test("ensureServerPKI() rejects a --tls-san that is neither IP nor DNS name", () =>
  withDataDir(async (dir) => {
    await assertRejects(
      () => ensureServerPKI({ dataDir: dir, ...base, tlsSans: ["bad name!"] }),
      CertificateError,
      "--tls-san",
    );
  }));

Deno.test("token files pin the SHA-256 of the CA file's bytes", () =>
  withDataDir(async (dir) => {
    const pki = await ensureServerPKI({ dataDir: dir, ...base });
    const sha =
      (await openssl(["dgst", "-sha256", "-r", pki.caCertFile])).out.split(
        " ",
      )[0];
    assertEquals(pki.caHash, sha);
    assertEquals(await caHashOf(await Deno.readFile(pki.caCertFile)), sha);
    const server = (await Deno.readTextFile(pki.tokenFile)).trim();
    const agent = (await Deno.readTextFile(pki.agentTokenFile)).trim();
    assertEquals(server, pki.token);
    assertEquals(agent, pki.agentToken);
    assert(new RegExp(`^K10${sha}::server:[0-9a-f]{32}$`).test(server), server);
    assert(new RegExp(`^K10${sha}::node:[0-9a-f]{32}$`).test(agent), agent);
    assertEquals(parseToken(agent).username, "node");
  }));

Deno.test("ensureServerPKI() uses a given --token secret and rewrites the hash after a new CA", () =>
  withDataDir(async (dir) => {
    const a = await ensureServerPKI({
      dataDir: dir,
      ...base,
      token: "s3cret-server",
      agentToken: "s3cret-agent",
    });
    assertEquals(parseToken(a.token).password, "s3cret-server");
    assertEquals(parseToken(a.agentToken).password, "s3cret-agent");
    await Deno.remove(a.caCertFile);
    await Deno.remove(a.caKeyFile);
    const b = await ensureServerPKI({ dataDir: dir, ...base });
    assertNotEquals(b.caHash, a.caHash);
    assertEquals(b.token, `K10${b.caHash}::server:s3cret-server`);
    assertEquals(b.agentToken, `K10${b.caHash}::node:s3cret-agent`);
  }));
