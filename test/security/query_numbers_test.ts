// Issue 11 row 8: `timeoutSeconds=999999999999999` answered 500
// (AbortSignal.timeout out of range). Query numbers are validated (400 for
// what is not a number) and clamped to what the server can honour.

import { assertEquals, assertMatch } from "@std/assert";
import { moreEvents, node, readEvents, testApi } from "../api/_fixture.ts";

Deno.test("security row 8: huge timeoutSeconds opens a watch that delivers events (no 500, no instant end)", async () => {
  for (const t of ["999999999999999", "2147484", "1" + "0".repeat(400)]) {
    await using api = await testApi();
    const ac = new AbortController();
    const res = await api.app.request(
      `/api/v1/nodes?watch=1&timeoutSeconds=${t}`,
      { headers: { authorization: "Bearer admin-token" }, signal: ac.signal },
    );
    assertEquals(res.status, 200, `timeoutSeconds=${t}`);
    const name = `n${t.length}`;
    const created = await api.call("POST", "/api/v1/nodes", node(name));
    assertEquals(created.status, 201);
    const { reader, events } = await readEvents(res, 1);
    assertEquals(events.map((e) => [e.type, e.object.metadata.name]), [[
      "ADDED",
      name,
    ]]);
    await reader.cancel();
    ac.abort();
  }
});

Deno.test("security row 8: malformed query numbers get 400 with a Status", async () => {
  await using api = await testApi();
  for (
    const q of [
      "watch=1&timeoutSeconds=-1",
      "watch=1&timeoutSeconds=1e3",
      "watch=1&timeoutSeconds=abc",
      "watch=1&resourceVersion=99999999999999999999999",
      "resourceVersion=-5",
      "limit=-1",
      "limit=ten",
    ]
  ) {
    const res = await api.call("GET", `/api/v1/nodes?${q}`);
    const st = await res.json();
    assertEquals(res.status, 400, `${q}: ${st.message}`);
    assertEquals(st.kind, "Status");
    assertMatch(st.message, /timeoutSeconds|resourceVersion|limit/);
  }
  for (const q of ["limit=500", "limit=99999999999999999999999", "limit=0"]) {
    assertEquals((await api.call("GET", `/api/v1/nodes?${q}`)).status, 200, q);
  }
});

Deno.test("security row 8: timeoutSeconds within range still ends the watch", async () => {
  await using api = await testApi();
  const res = await api.call("GET", "/api/v1/nodes?watch=1&timeoutSeconds=1");
  assertEquals(res.status, 200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  assertEquals(await moreEvents(reader, 1), []);
});
