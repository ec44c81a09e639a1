// The API server's listen address: by default (and with 0.0.0.0 or ::) it
// answers over both families on one port, verified by the serving
// certificate's IP SANs (127.0.0.1, ::1, and an IPv6 --tls-san written in
// brackets); a specific address binds only it.

import { assert, assertEquals } from "@std/assert";
import { certInfo, ensureServerPKI } from "../../src/tls/mod.ts";
import { testServer } from "./_server.ts";

async function version(s: { client: Deno.HttpClient }, url: string) {
  const r = await fetch(`${url}/version`, { client: s.client });
  return (await r.json()).major as string;
}

Deno.test("the API server on the default address answers IPv4 and IPv6 clients on one port", async () => {
  for (const hostname of [undefined, "0.0.0.0", "::"]) {
    await using s = await testServer({ hostname });
    assertEquals(s.server.hostnames, ["::"]);
    assertEquals(await version(s, `https://127.0.0.1:${s.server.port}`), "1");
    assertEquals(await version(s, `https://[::1]:${s.server.port}`), "1");
  }
});

Deno.test("the API server on ::1 answers IPv6 only", async () => {
  await using s = await testServer({ hostname: "::1" });
  assertEquals(s.server.hostnames, ["::1"]);
  assertEquals(await version(s, `https://[::1]:${s.server.port}`), "1");
  const v4 = await fetch(`https://127.0.0.1:${s.server.port}/version`, {
    client: s.client,
  }).then(() => true, () => false);
  assertEquals(v4, false);
});

Deno.test("a bracketed IPv6 --tls-san becomes an IP SAN", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-san6-" });
  try {
    const pki = await ensureServerPKI({
      dataDir: dir,
      hostname: "n",
      addresses: ["fd77::1"],
      tlsSans: ["[fd77:0::9]", "fd78::1"],
    });
    const sans = certInfo(pki.certPem).sans;
    for (const want of ["fd77::1", "fd77::9", "fd78::1", "::1", "127.0.0.1"]) {
      assert(sans.includes(want), `${want} in ${sans.join(", ")}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
