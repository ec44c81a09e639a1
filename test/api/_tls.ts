// Serving certificate for tests: the cluster PKI from src/tls (CA + serving
// certificate for 127.0.0.1/localhost) in a temp data dir.

import { ensureServerPKI } from "../../src/tls/mod.ts";

export interface TestCert {
  dir: string;
  cert: string;
  key: string;
  /** The CA certificate clients trust. */
  caPem: string;
  caPath: string;
}

export async function makeTestCert(): Promise<TestCert> {
  const dir = await Deno.makeTempDir({ prefix: "weft-api-tls-" });
  const pki = await ensureServerPKI({
    dataDir: dir,
    addresses: ["127.0.0.1"],
    hostname: "localhost",
  });
  return {
    dir,
    cert: pki.certPem,
    key: pki.keyPem,
    caPem: pki.caPem,
    caPath: pki.caCertFile,
  };
}
