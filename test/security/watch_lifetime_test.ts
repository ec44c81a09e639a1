// Finding 9 (low), second half: watches without timeoutSeconds never ended.
// Now every watch has a server-side maximum lifetime with jitter, as
// kube-apiserver's --min-request-timeout (1800 s): [min, 2 min) when the
// client gives none, timeoutSeconds honoured up to 2 min.

import { assert, assertEquals } from "@std/assert";
import { Registry } from "../../src/api/registry.ts";
import { NODES } from "../../src/api/resources.ts";
import {
  MIN_REQUEST_TIMEOUT_MS,
  watchLifetimeMs,
  watchResponse,
} from "../../src/api/watch.ts";
import { openSqliteStore } from "../../src/store/mod.ts";
import { testApi } from "../api/_fixture.ts";

Deno.test("finding 9: a watch without timeoutSeconds gets a lifetime in [1800, 3600) s", () => {
  const min = MIN_REQUEST_TIMEOUT_MS;
  assertEquals(min, 1800 * 1000);
  assertEquals(watchLifetimeMs(undefined, min, () => 0), min);
  assertEquals(watchLifetimeMs(0, min, () => 0.5), 1.5 * min);
  const top = watchLifetimeMs(undefined, min, () => 0.9999999999);
  assert(top < 2 * min && top >= 1.99 * min, `${top}`);
  // Math.random's range, sampled: every lifetime in range, not all equal.
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) {
    const ms = watchLifetimeMs(undefined);
    assert(ms >= min && ms < 2 * min, `${ms}`);
    seen.add(ms);
  }
  assert(seen.size > 1, "no jitter");
});

Deno.test("finding 9: an explicit timeoutSeconds is honoured up to 3600 s", () => {
  const min = MIN_REQUEST_TIMEOUT_MS;
  assertEquals(watchLifetimeMs(10_000, min), 10_000);
  assertEquals(watchLifetimeMs(3_000_000, min), 3_000_000);
  assertEquals(watchLifetimeMs(999_999_999_999_999_000, min), 2 * min);
});

Deno.test("finding 9: a watch without timeoutSeconds ends on its own", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-sec-lifetime-" });
  const store = openSqliteStore(`${dir}/state.db`);
  try {
    const res = await watchResponse({
      registry: new Registry(store, {}),
      def: NODES,
      match: () => true,
      bookmarks: false,
      bookmarkIntervalMs: 60_000,
      initialEventsEnd: false,
      minRequestTimeoutMs: 100,
    });
    const bound = setTimeout(() => res.body?.cancel(), 20_000);
    const body = await res.text();
    clearTimeout(bound);
    assertEquals(body, "");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("finding 9: a huge timeoutSeconds opens a watch (clamped), not a 500", async () => {
  await using api = await testApi();
  const res = await api.call(
    "GET",
    "/api/v1/nodes?watch=1&timeoutSeconds=999999999999999",
  );
  assertEquals(res.status, 200);
  await res.body?.cancel();
});
