// The scrape side: on the first scrape, prom-client is imported (it costs
// ~9 MB of RSS, so an agent nobody scrapes never loads it), its default
// process metrics are registered, and every family of family.ts is rendered
// through its Registry on each scrape.

import type { MetricType } from "prom-client";
import { allFamilies, droppedSeries, type Family } from "./family.ts";

type Rendered = Pick<Family<string>, "name" | "help" | "type" | "samples">;

export interface Exposition {
  contentType: string;
  body: string;
}

/** Default metrics left out: those Deno does not provide (perf_hooks'
 * monitorEventLoopDelay is a stub there: min 9.2e9, mean NaN;
 * weft_event_loop_lag_seconds measures the lag instead), and gauges named
 * `_total` (nodejs_active_handles_total...), which `promtool check metrics`
 * rejects. */
const LEFT_OUT = /^nodejs_eventloop_lag|^nodejs_active_\w+_total$/;

type Registry = {
  metrics(): Promise<string>;
  contentType: string;
};

let registry: Promise<Registry> | null = null;

async function build(): Promise<Registry> {
  const pc = await import("prom-client");
  const reg = new pc.Registry();
  pc.collectDefaultMetrics({ register: reg });
  for (const m of reg.getMetricsAsArray()) {
    if (LEFT_OUT.test(m.name)) reg.removeSingleMetric(m.name);
  }
  const known = new Set<Rendered>();
  const adapt = (f: Rendered) => {
    known.add(f);
    // A prom-client metric whose get() reads the family: prom-client's
    // registry does the naming, escaping and formatting.
    class FamilyMetric extends pc.Gauge {
      constructor() {
        super({ name: f.name, help: f.help, registers: [] });
      }
      override get() {
        return Promise.resolve({
          name: f.name,
          help: f.help,
          type: f.type as unknown as MetricType, // a string at run time,
          aggregator: "sum" as const,
          collect: () => {},
          values: f.samples(),
        });
      }
    }
    reg.registerMetric(new FamilyMetric());
  };
  adapt({
    name: "weft_metrics_series_dropped_total",
    help: "Label sets not recorded because their metric had too many.",
    type: "counter",
    samples: () => [{ labels: {}, value: droppedSeries() }],
  });
  return {
    get contentType() {
      return reg.contentType;
    },
    metrics: () => {
      // Families defined after the first scrape (a module loaded later).
      for (const f of allFamilies()) if (!known.has(f)) adapt(f);
      return reg.metrics();
    },
  };
}

/** The metrics in the Prometheus text format (0.0.4). */
export async function exposition(): Promise<Exposition> {
  registry ??= build().catch((e) => {
    registry = null;
    throw e;
  });
  const reg = await registry;
  return { contentType: reg.contentType, body: await reg.metrics() };
}

/** Whether prom-client has been loaded (the first scrape happened). */
export function exposerLoaded(): boolean {
  return registry !== null;
}
