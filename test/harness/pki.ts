// A temp data dir holding weft's server PKI (CA, serving cert, token files),
// removed after the test: for the auth, join and client tests.

import { ensureServerPKI, type ServerPKI } from "../../src/tls/mod.ts";

/** Runs `fn` with a fresh data dir (prefix `prefix`) and its server PKI. */
export async function withServerPKI(
  prefix: string,
  fn: (dir: string, pki: ServerPKI) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    const pki = await ensureServerPKI({
      dataDir: dir,
      hostname: "s",
      addresses: [],
    });
    await fn(dir, pki);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
