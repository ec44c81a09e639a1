// Prometheus metrics: cheap families recorded everywhere (family.ts,
// weft.ts), prom-client loaded on the first scrape only (expose.ts).
export {
  allFamilies,
  Counter,
  DEFAULT_BUCKETS,
  droppedSeries,
  Gauge,
  Histogram,
  MAX_SERIES,
  type MetricType,
  type Sample,
} from "./family.ts";
export { exposerLoaded, type Exposition, exposition } from "./expose.ts";
export { monitorEventLoopLag } from "./lag.ts";
export { metricsResponse } from "./response.ts";
export { type CniOperation, recordCniOperation } from "./cni.ts";
export { instrumentStore } from "./store.ts";
export * from "./weft.ts";
