// The cheap side of weft's metrics: counters, gauges and histograms kept in
// plain maps (a few hundred bytes each), always loaded. prom-client, which
// costs ~9 MB of RSS, is loaded only when something scrapes (expose.ts) and
// renders these families through its registry.

export type MetricType = "counter" | "gauge" | "histogram";

/** At most this many label sets per family: label values come from
 * requests (resource names, codes), so a hostile client cannot grow them
 * without bound; further sets are counted in weft_metrics_series_dropped. */
export const MAX_SERIES = 500;

/** One exposed sample (prom-client's MetricValue shape). */
export interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

const families: Family<string>[] = [];
let dropped = 0;

/** Every family defined so far, in definition order. */
export function allFamilies(): readonly Family<string>[] {
  return families;
}

/** Label sets refused because a family had MAX_SERIES already. */
export function droppedSeries(): number {
  return dropped;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export abstract class Family<L extends string> {
  abstract readonly type: MetricType;
  protected readonly series = new Map<string, { labels: string[] }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[] = [],
  ) {
    if (!NAME.test(name)) throw new TypeError(`bad metric name "${name}"`);
    for (const l of labelNames) {
      if (!LABEL.test(l) || l.startsWith("__") || l === "le") {
        throw new TypeError(`bad label name "${l}" of ${name}`);
      }
    }
    if (families.some((f) => f.name === name)) {
      throw new TypeError(`metric ${name} is defined twice`);
    }
    families.push(this as Family<string>);
  }

  /** The samples to expose now. */
  abstract samples(): Sample[];

  protected labelValues(labels: Record<L, string> | undefined): string[] {
    return this.labelNames.map((n) => String(labels?.[n] ?? ""));
  }

  /** The series for `labels`, created on first use (null past the cap). */
  protected slot<S extends { labels: string[] }>(
    labels: Record<L, string> | undefined,
    make: (values: string[]) => S,
  ): S | null {
    const values = this.labelValues(labels);
    const key = values.join("\u0000");
    let s = this.series.get(key) as S | undefined;
    if (!s) {
      if (this.series.size >= MAX_SERIES) {
        dropped++;
        return null;
      }
      s = make(values);
      this.series.set(key, s);
    }
    return s;
  }

  protected labelsOf(values: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    this.labelNames.forEach((n, i) => out[n] = values[i]);
    return out;
  }
}

type Valued = { labels: string[]; value: number };

/** A monotonically increasing count (`_total`). */
export class Counter<L extends string = never> extends Family<L> {
  readonly type = "counter";

  inc(labels?: Record<L, string>, by = 1): void {
    if (!(by >= 0)) return;
    const s = this.slot<Valued>(labels, (v) => ({ labels: v, value: 0 }));
    if (s) s.value += by;
  }

  /** The current value for `labels` (0 when never counted). */
  get(labels?: Record<L, string>): number {
    const key = this.labelValues(labels).join("\u0000");
    return (this.series.get(key) as Valued | undefined)?.value ?? 0;
  }

  samples(): Sample[] {
    if (this.labelNames.length === 0 && this.series.size === 0) {
      return [{ labels: {}, value: 0 }];
    }
    return [...this.series.values()].map((s) => ({
      labels: this.labelsOf(s.labels),
      value: (s as Valued).value,
    }));
  }
}

/** A value that goes up and down; set directly or read at scrape time. */
export class Gauge<L extends string = never> extends Family<L> {
  readonly type = "gauge";
  #sources = new Set<() => [Record<L, string> | undefined, number][]>();

  set(labels: Record<L, string> | undefined, value: number): void {
    const s = this.slot<Valued>(labels, (v) => ({ labels: v, value: 0 }));
    if (s) s.value = value;
  }

  inc(labels?: Record<L, string>, by = 1): void {
    const s = this.slot<Valued>(labels, (v) => ({ labels: v, value: 0 }));
    if (s) s.value += by;
  }

  dec(labels?: Record<L, string>, by = 1): void {
    this.inc(labels, -by);
  }

  /**
   * Adds values read at scrape time (summed with the set ones per label
   * set); returns the function that removes the source again.
   */
  source(read: () => [Record<L, string> | undefined, number][]): () => void {
    this.#sources.add(read);
    return () => this.#sources.delete(read);
  }

  samples(): Sample[] {
    const sums = new Map<string, Valued>();
    const add = (values: string[], v: number) => {
      const key = values.join("\u0000");
      const s = sums.get(key);
      if (s) s.value += v;
      else if (sums.size < MAX_SERIES) {
        sums.set(key, { labels: values, value: v });
      }
    };
    for (const s of this.series.values()) add(s.labels, (s as Valued).value);
    for (const read of this.#sources) {
      try {
        for (const [l, v] of read()) add(this.labelValues(l), v);
      } catch {
        // a source that fails to read is left out of this scrape
      }
    }
    if (this.labelNames.length === 0 && sums.size === 0) {
      return [{ labels: {}, value: 0 }];
    }
    return [...sums.values()].map((s) => ({
      labels: this.labelsOf(s.labels),
      value: s.value,
    }));
  }
}

/** A family whose samples are read when scraped (process metrics). */
export class Reading extends Family<never> {
  constructor(
    name: string,
    help: string,
    readonly type: MetricType,
    readonly read: () => Sample[],
  ) {
    super(name, help);
  }

  samples(): Sample[] {
    try {
      return this.read();
    } catch {
      return []; // unreadable now (e.g. no /proc): left out of this scrape
    }
  }
}

/** Prometheus' default buckets (seconds). */
export const DEFAULT_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

type Hist = { labels: string[]; counts: number[]; sum: number; count: number };

/** Observations in cumulative buckets, with `_sum` and `_count`. */
export class Histogram<L extends string = never> extends Family<L> {
  readonly type = "histogram";
  readonly buckets: readonly number[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {
    // Checked before super() registers the family.
    const sorted = [...buckets].sort((a, b) => a - b);
    if (sorted.some((b, i) => !Number.isFinite(b) || b === sorted[i - 1])) {
      throw new TypeError(`bad buckets of ${name}`);
    }
    super(name, help, labelNames);
    this.buckets = sorted;
  }

  observe(labels: Record<L, string> | undefined, value: number): void {
    if (Number.isNaN(value)) return;
    const s = this.slot<Hist>(labels, (v) => ({
      labels: v,
      counts: new Array(this.buckets.length).fill(0),
      sum: 0,
      count: 0,
    }));
    if (!s) return;
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  /** Starts a timer; the returned function observes the seconds elapsed. */
  startTimer(): (labels?: Record<L, string>) => number {
    const t0 = performance.now();
    return (labels) => {
      const s = (performance.now() - t0) / 1000;
      this.observe(labels, s);
      return s;
    };
  }

  /** Observations so far for `labels`. */
  count(labels?: Record<L, string>): number {
    const key = this.labelValues(labels).join("\u0000");
    return (this.series.get(key) as Hist | undefined)?.count ?? 0;
  }

  samples(): Sample[] {
    const all = [...this.series.values()] as Hist[];
    if (this.labelNames.length === 0 && all.length === 0) {
      all.push({
        labels: [],
        counts: new Array(this.buckets.length).fill(0),
        sum: 0,
        count: 0,
      });
    }
    const out: Sample[] = [];
    for (const s of all) {
      const labels = this.labelsOf(s.labels);
      let acc = 0;
      this.buckets.forEach((b, i) => {
        acc += s.counts[i];
        out.push({
          metricName: `${this.name}_bucket`,
          labels: { ...labels, le: b },
          value: acc,
        });
      });
      out.push({
        metricName: `${this.name}_bucket`,
        labels: { ...labels, le: "+Inf" },
        value: s.count,
      });
      out.push({ metricName: `${this.name}_sum`, labels, value: s.sum });
      out.push({ metricName: `${this.name}_count`, labels, value: s.count });
    }
    return out;
  }
}
