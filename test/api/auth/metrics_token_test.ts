import { assertEquals } from "@std/assert";
import {
  createAuthenticator,
  ensureMetricsToken,
  isAdmin,
  isMonitoring,
  metricsTokenPath,
  MONITORING_GROUP,
} from "../../../src/api/auth/mod.ts";
import { withServerPKI } from "../../harness/pki.ts";

const req = (auth: string) =>
  new Request("https://x/metrics", { headers: { authorization: auth } });

Deno.test("the metrics token is system:monitoring, never admin, 0600, stable", () =>
  withServerPKI("weft-auth-", async (dir) => {
    const auth = createAuthenticator({ dataDir: dir, recheckMs: 0 });
    const token = await ensureMetricsToken(dir);
    assertEquals(await ensureMetricsToken(dir), token);
    assertEquals((await Deno.stat(metricsTokenPath(dir))).mode! & 0o777, 0o600);
    const id = await auth(req(`Bearer ${token}`));
    assertEquals(id?.groups.includes(MONITORING_GROUP), true);
    assertEquals(isMonitoring(id!), true);
    assertEquals(isAdmin(id!), false);
    // A wrong secret with the same prefix, a truncated token, a huge one.
    for (
      const bad of [
        token.slice(0, -1) + (token.endsWith("a") ? "b" : "a"),
        token.slice(0, -4),
        token + "x".repeat(60_000),
        "weft-metrics:",
      ]
    ) {
      assertEquals(await auth(req(`Bearer ${bad}`)), null);
    }
  }));
