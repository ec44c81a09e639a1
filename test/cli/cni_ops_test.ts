// The agent drains the plugins' records into metrics and events.

import { assertEquals } from "@std/assert";
import {
  drainOpsLog,
  enableOpsLog,
  parseOpRecord,
  watchOpsLog,
} from "../../src/cli/cni_ops.ts";

Deno.test("drainOpsLog() takes the records, leaves an empty file, skips bad lines", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-cni-ops-" });
  try {
    const log = `${dir}/run/cni-ops.log`;
    await enableOpsLog(log);
    assertEquals((await Deno.stat(log)).mode! & 0o777, 0o600);
    assertEquals(await drainOpsLog(log), []);
    const good = { plugin: "flannel", command: "ADD", ok: true, ms: 12.5 };
    await Deno.writeTextFile(
      log,
      [
        JSON.stringify(good),
        "not json",
        JSON.stringify({ ...good, ok: "yes" }),
        JSON.stringify({ ...good, plugin: "p".repeat(100) }),
        JSON.stringify({ ...good, error: "e".repeat(600) }),
        "[1,2]",
        "null",
        JSON.stringify({ ...good, command: "DEL", ok: false, ms: -1 }),
      ].join("\n") + "\n",
    );
    const got = await drainOpsLog(log);
    assertEquals(got.map((r) => [r.command, r.ok, r.ms]), [
      ["ADD", true, 12.5],
      ["ADD", true, 12.5],
      ["DEL", false, NaN],
    ]);
    assertEquals(got[1].error, undefined); // too long: dropped, not cut
    assertEquals(await Deno.readTextFile(log), "");
    assertEquals(await drainOpsLog(log), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseOpRecord() refuses oversized lines", () => {
  assertEquals(parseOpRecord("x".repeat(5000)), null);
  assertEquals(
    parseOpRecord('{"plugin":"bridge","command":"CHECK","ok":true}')?.plugin,
    "bridge",
  );
});

Deno.test("watchOpsLog() hands each record over until aborted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-cni-ops-" });
  const ac = new AbortController();
  try {
    const log = `${dir}/cni-ops.log`;
    const seen: string[] = [];
    const done = watchOpsLog(
      log,
      (r) => {
        seen.push(r.command);
        ac.abort();
      },
      ac.signal,
      () => {},
      20,
    );
    while (!(await Deno.stat(log).catch(() => null))) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await Deno.writeTextFile(
      log,
      JSON.stringify({ plugin: "flannel", command: "ADD", ok: false, ms: 1 }) +
        "\n",
      { append: true },
    );
    await done;
    assertEquals(seen, ["ADD"]);
  } finally {
    ac.abort();
    await Deno.remove(dir, { recursive: true });
  }
});
