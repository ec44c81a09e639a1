import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  Counter,
  droppedSeries,
  eventLoopLag,
  exposition,
  Gauge,
  Histogram,
  instrumentStore,
  MAX_SERIES,
  monitorEventLoopLag,
  storeOperationDuration,
} from "../../src/metrics/mod.ts";
import { openSqliteStore } from "../../src/store/mod.ts";

/** A fresh name (families are process-wide) keeping the suffix last. */
const uniq = (base: string) =>
  base.replace(
    /^t_/,
    `t${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}_`,
  );

Deno.test("Counter counts per label set and ignores negative or NaN increments", () => {
  const c = new Counter(uniq("t_things_total"), "Things.", ["kind"]);
  c.inc({ kind: "a" });
  c.inc({ kind: "a" }, 2);
  c.inc({ kind: "a" }, -5);
  c.inc({ kind: "a" }, NaN);
  c.inc({ kind: "b" });
  assertEquals(c.get({ kind: "a" }), 3);
  assertEquals(c.samples().map((s) => [s.labels.kind, s.value]), [
    ["a", 3],
    ["b", 1],
  ]);
});

Deno.test("a family holds at most MAX_SERIES label sets; the rest are counted as dropped", () => {
  const c = new Counter(uniq("t_hostile_total"), "Hostile.", ["path"]);
  const before = droppedSeries();
  for (let i = 0; i < MAX_SERIES + 50; i++) c.inc({ path: `/x/${i}` });
  assertEquals(c.samples().length, MAX_SERIES);
  assertEquals(droppedSeries() - before, 50);
});

Deno.test("names and labels are checked when a family is defined", () => {
  assertThrows(
    () => new Counter("bad-name", "x"),
    TypeError,
    "bad metric name",
  );
  assertThrows(
    () => new Counter(uniq("t_x"), "x", ["le"]),
    TypeError,
    "bad label",
  );
  assertThrows(
    () => new Counter(uniq("t_x"), "x", ["__a"]),
    TypeError,
    "bad label",
  );
  const name = uniq("t_dup_total");
  new Counter(name, "x");
  assertThrows(() => new Gauge(name, "x"), TypeError, "defined twice");
  assertThrows(
    () => new Histogram(uniq("t_h"), "x", [], [1, 1]),
    TypeError,
    "bad buckets",
  );
});

Deno.test("Histogram buckets are cumulative with +Inf, _sum and _count", () => {
  const h = new Histogram(uniq("t_lat_seconds"), "Latency.", [], [0.1, 1]);
  for (const v of [0.05, 0.1, 0.5, 3]) h.observe(undefined, v);
  const byName = h.samples().map((s) => [
    s.metricName!.replace(h.name, ""),
    s.labels.le ?? "",
    s.value,
  ]);
  assertEquals(byName, [
    ["_bucket", 0.1, 2],
    ["_bucket", 1, 3],
    ["_bucket", "+Inf", 4],
    ["_sum", "", 3.65],
    ["_count", "", 4],
  ]);
});

Deno.test("Gauge sources are read at scrape time and removed by their disposer", () => {
  const g = new Gauge(uniq("t_open"), "Open.", ["side"]);
  let n = 2;
  const off = g.source(() => [[{ side: "a" }, n]]);
  g.set({ side: "a" }, 1);
  assertEquals(g.samples()[0].value, 3);
  n = 5;
  assertEquals(g.samples()[0].value, 6);
  off();
  assertEquals(g.samples()[0].value, 1);
  g.source(() => {
    throw new Error("broken source");
  });
  assertEquals(g.samples()[0].value, 1);
});

Deno.test("exposition() is the text format promtool accepts, with weft and process series", async () => {
  const e = await exposition();
  assertEquals(e.contentType, "text/plain; version=0.0.4; charset=utf-8");
  for (
    const name of [
      "weft_apiserver_requests_total",
      "weft_apiserver_request_duration_seconds",
      "weft_store_operation_duration_seconds",
      "weft_supervisor_task_restarts_total",
      "weft_cni_operations_total",
      "weft_tunnel_bytes_total",
      "weft_event_loop_lag_seconds",
      "process_resident_memory_bytes",
      "process_cpu_seconds_total",
      "process_start_time_seconds",
      "process_max_fds",
      "weft_heap_used_bytes",
      "weft_metrics_series_dropped_total",
    ]
  ) {
    assert(e.body.includes(`# TYPE ${name} `), name);
  }
  // Read from /proc and Deno at scrape time.
  const rss = Number(
    /^process_resident_memory_bytes (\d+)$/m.exec(e.body)?.[1],
  );
  assert(rss > 1e6, `rss ${rss}`);
  const cpu = Number(
    /^process_cpu_seconds_total ([\d.e+-]+)$/m.exec(e.body)?.[1],
  );
  assert(cpu > 0, `cpu ${cpu}`);
  const start = Number(
    /^process_start_time_seconds ([\d.e+-]+)$/m.exec(e.body)?.[1],
  );
  assert(Math.abs(start - Date.now() / 1000) < 3600, `start ${start}`);
  assert(/^process_open_fds \d+$/m.test(e.body));
  const promtool = "/usr/bin/promtool";
  if (!await Deno.stat(promtool).then(() => true, () => false)) {
    console.log("promtool not installed: format check skipped");
    return;
  }
  const p = new Deno.Command(promtool, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(e.body));
  await w.close();
  const out = await p.output();
  assertEquals(
    out.code,
    0,
    new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
  );
});

Deno.test("instrumentStore() times each store call by operation and result", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-metrics-" });
  try {
    using store = instrumentStore(openSqliteStore(`${dir}/s.db`));
    const ok = { operation: "create", result: "ok" };
    const err = { operation: "create", result: "error" };
    const [ok0, err0] = [ok, err].map((l) => storeOperationDuration.count(l));
    await store.create("/k", "v");
    await store.create("/k", "v").catch(() => {});
    assertEquals(storeOperationDuration.count(ok), ok0 + 1);
    assertEquals(storeOperationDuration.count(err), err0 + 1);
    assertEquals((await store.get("/k"))?.value, "v");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("monitorEventLoopLag() samples until aborted, and sees a blocked loop", async () => {
  const ac = new AbortController();
  const before = eventLoopLag.count();
  monitorEventLoopLag(ac.signal, 20);
  const t0 = Date.now();
  while (Date.now() - t0 < 60) { /* block the loop */ }
  await new Promise((r) => setTimeout(r, 100));
  ac.abort();
  const taken = eventLoopLag.count() - before;
  assert(taken >= 1, `samples: ${taken}`);
  const sum =
    eventLoopLag.samples().find((s) =>
      s.metricName === "weft_event_loop_lag_seconds_sum"
    )!.value;
  assert(sum >= 0.02, `lag sum ${sum}`);
  await new Promise((r) => setTimeout(r, 60));
  assertEquals(eventLoopLag.count() - before, taken);
});
