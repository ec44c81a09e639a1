// Every metric weft exposes, defined once (names by Prometheus conventions:
// `weft_` prefix, `_total` counters, base units in `_seconds`/`_bytes`).
// Recording is a map update; nothing here loads prom-client.

import { Counter, Gauge, Histogram } from "./family.ts";

/** Short requests and store calls: 1 ms to 60 s. */
const LATENCY = [
  0.001,
  0.0025,
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
  30,
  60,
];

export const apiRequests = new Counter(
  "weft_apiserver_requests_total",
  "API requests by verb, group, resource, subresource and HTTP code.",
  ["verb", "group", "resource", "subresource", "code"],
);

export const apiRequestDuration = new Histogram(
  "weft_apiserver_request_duration_seconds",
  "API request latency (to the response head; watches excluded).",
  ["verb", "group", "resource", "subresource"],
  LATENCY,
);

export const apiOpenWatches = new Gauge(
  "weft_apiserver_open_watches",
  "Watch streams open now, by group and resource.",
  ["group", "resource"],
);

export const storeOperationDuration = new Histogram(
  "weft_store_operation_duration_seconds",
  "Datastore call latency by operation and result (ok, error).",
  ["operation", "result"],
  LATENCY,
);

export const flannelLeases = new Gauge(
  "weft_flannel_leases",
  "Remote flannel leases (other nodes' subnets) this node programs.",
);

export const flannelReconciles = new Counter(
  "weft_flannel_reconciles_total",
  "Full dataplane reconcile passes run by flannel.",
);

export const flannelRepairs = new Counter(
  "weft_flannel_repairs_total",
  "Dataplane and rule repairs made by flannel reconcile passes, by kind " +
    "(device_recreated, entry_written, entry_removed, rules_rebuilt).",
  ["kind"],
);

export const supervisorRestarts = new Counter(
  "weft_supervisor_task_restarts_total",
  "Restarts of internal tasks after they failed or returned, by task.",
  ["task"],
);

export const supervisorTaskReady = new Gauge(
  "weft_supervisor_task_ready",
  "1 when the internal task is ready, else 0.",
  ["task"],
);

export const cniOperations = new Counter(
  "weft_cni_operations_total",
  "CNI operations seen by this node, by plugin, command and result.",
  ["plugin", "command", "result"],
);

export const cniOperationDuration = new Histogram(
  "weft_cni_operation_duration_seconds",
  "CNI operation duration by plugin and command.",
  ["plugin", "command"],
  LATENCY,
);

export const tunnelSessions = new Gauge(
  "weft_tunnel_sessions",
  "Egress tunnel sessions open now (side: server or agent).",
  ["side"],
);

export const tunnelSessionsOpened = new Counter(
  "weft_tunnel_sessions_opened_total",
  "Egress tunnel sessions opened (side: server or agent).",
  ["side"],
);

export const tunnelStreams = new Gauge(
  "weft_tunnel_streams",
  "Streams open now over the egress tunnel sessions.",
  ["side"],
);

export const tunnelBytes = new Counter(
  "weft_tunnel_bytes_total",
  "Bytes of tunnel frames sent or received over the websockets.",
  ["side", "direction"],
);

export const eventLoopLag = new Histogram(
  "weft_event_loop_lag_seconds",
  "How late a timer fired (event loop lag), sampled every 500 ms.",
  [],
  [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
);

export const eventsRecorded = new Counter(
  "weft_events_total",
  "Kubernetes Events by outcome: created, aggregated (count bumped), " +
    "dropped (rate limit or queue full), failed.",
  ["outcome"],
);
