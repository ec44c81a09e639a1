// Process metrics under the names every Prometheus client uses
// (process_resident_memory_bytes, process_cpu_seconds_total, ...), read from
// Deno and /proc at scrape time. prom-client's collectDefaultMetrics costs
// ~3 MB more RSS on the first scrape and half of it does not work on Deno
// (its event-loop delay histogram is a stub there).

import { droppedSeries, Reading, type Sample } from "./family.ts";

const one = (value: number): Sample[] => [{ labels: {}, value }];
const CLK_TCK = 100; // USER_HZ on Linux

function procStat(): string[] {
  const text = Deno.readTextFileSync("/proc/self/stat");
  // Fields after the command name, which is in parentheses and may hold spaces.
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

function bootTime(): number {
  const m = /^btime (\d+)$/m.exec(Deno.readTextFileSync("/proc/stat"));
  return m ? Number(m[1]) : NaN;
}

const mem = () => Deno.memoryUsage();

new Reading(
  "process_resident_memory_bytes",
  "Resident memory size in bytes.",
  "gauge",
  () => one(mem().rss),
);
new Reading(
  "process_virtual_memory_bytes",
  "Virtual memory size in bytes.",
  "gauge",
  () => one(Number(procStat()[20])),
);
new Reading(
  "process_cpu_seconds_total",
  "Total user and system CPU time spent in seconds.",
  "counter",
  () => {
    const f = procStat();
    return one((Number(f[11]) + Number(f[12])) / CLK_TCK);
  },
);
let startTime: number | null = null;
new Reading(
  "process_start_time_seconds",
  "Start time of the process since unix epoch in seconds.",
  "gauge",
  () => one(startTime ??= bootTime() + Number(procStat()[19]) / CLK_TCK),
);
new Reading(
  "process_open_fds",
  "Number of open file descriptors.",
  "gauge",
  () => one([...Deno.readDirSync("/proc/self/fd")].length),
);
new Reading(
  "process_max_fds",
  "Maximum number of open file descriptors.",
  "gauge",
  () => {
    const m = /^Max open files\s+(\d+)/m.exec(
      Deno.readTextFileSync("/proc/self/limits"),
    );
    return m ? one(Number(m[1])) : [];
  },
);
new Reading(
  "weft_heap_used_bytes",
  "JavaScript heap in use (V8), in bytes.",
  "gauge",
  () => one(mem().heapUsed),
);
new Reading(
  "weft_heap_total_bytes",
  "JavaScript heap reserved (V8), in bytes.",
  "gauge",
  () => one(mem().heapTotal),
);
new Reading(
  "weft_external_memory_bytes",
  "Memory of objects outside the V8 heap (buffers), in bytes.",
  "gauge",
  () => one(mem().external),
);
new Reading(
  "weft_metrics_series_dropped_total",
  "Label sets not recorded because their metric had too many.",
  "counter",
  () => one(droppedSeries()),
);
