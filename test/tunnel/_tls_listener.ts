// A TLS listener on 127.0.0.1 (a free port) with a fresh server PKI, for the
// tests that stand in for a tunnel server or a TLS peer.

import { ensureServerPKI } from "../../src/tls/mod.ts";

/** Listens with a certificate for 127.0.0.1/localhost made in `dataDir`. */
export async function localTlsListener(
  dataDir: string,
): Promise<{ listener: Deno.TlsListener; caPem: string }> {
  const pki = await ensureServerPKI({
    dataDir,
    addresses: ["127.0.0.1"],
    hostname: "localhost",
  });
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: pki.certPem,
    key: pki.keyPem,
  });
  return { listener, caPem: pki.caPem };
}
