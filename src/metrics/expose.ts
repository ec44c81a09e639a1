// The scrape side: on the first scrape, prom-client is imported (it costs
// ~10 MB of RSS, so an agent nobody scrapes never loads it), and every
// family of family.ts (process.ts's process metrics included) is rendered
// through its Registry on each scrape.

import type { MetricType } from "prom-client";
import { allFamilies, type Family } from "./family.ts";
import "./process.ts";

export interface Exposition {
  contentType: string;
  body: string;
}

type Registry = {
  metrics(): Promise<string>;
  contentType: string;
};

let registry: Promise<Registry> | null = null;

async function build(): Promise<Registry> {
  const pc = await import("prom-client");
  const reg = new pc.Registry();
  const known = new Set<Family<string>>();
  const adapt = (f: Family<string>) => {
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
          // prom-client declares an enum; its registry prints the string.
          type: f.type as unknown as MetricType,
          aggregator: "sum" as const,
          collect: () => {},
          values: f.samples(),
        });
      }
    }
    reg.registerMetric(new FamilyMetric());
  };
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
