// Event, stored once as core/v1 and also served as events.k8s.io/v1 (the
// version `kubectl events` reads), converted field by field as
// kube-apiserver does. Events expire an hour after their last write
// (kube-apiserver's --event-ttl), so the store does not grow without bound.

import { ApiError } from "../errors.ts";
import {
  isObject,
  type Json,
  type KubeObject,
  nowTimestamp,
} from "../object.ts";
import {
  CORE,
  int,
  obj,
  ref,
  type Schema,
  str,
  time,
} from "../openapi/schema.ts";
import type { ResourceDef } from "../resources.ts";
import {
  col,
  get,
  humanDuration,
  type Printer,
  str as cell,
} from "../table.ts";

/** kube-apiserver's default --event-ttl. */
export const EVENT_TTL_MS = 60 * 60 * 1000;

const CORE_NAME = `${CORE}.Event`;
const V1_NAME = "io.k8s.api.events.v1.Event";

const series = obj({
  count: int("How many times the event occurred in this series."),
  lastObservedTime: time("When the last occurrence was observed."),
}, "A series of occurrences of the event.");

const coreDefinitions: Record<string, Schema> = {
  [CORE_NAME]: obj(
    {
      involvedObject: ref(
        `io.k8s.api.core.v1.ObjectReference`,
        "The object this event is about.",
      ),
      reason: str(
        "Why the event happened, short and machine readable (CamelCase).",
      ),
      message: str("What happened, for a human."),
      source: obj({ component: str(), host: str() }, "Who reported it."),
      firstTimestamp: time("When the event was first recorded."),
      lastTimestamp: time("When the event was last recorded."),
      count: int("How many times the event occurred."),
      type: str("Normal or Warning."),
      eventTime: time("When the event was first observed (microseconds)."),
      series,
      action: str("What action was taken or failed."),
      related: ref(`io.k8s.api.core.v1.ObjectReference`, "A second object."),
      reportingComponent: str("The controller that emitted the event."),
      reportingInstance: str("The instance (e.g. node) of the controller."),
    },
    "A report of something that happened in the cluster.",
    [
      "metadata",
      "involvedObject",
    ],
  ),
};

const v1Definitions: Record<string, Schema> = {
  [V1_NAME]: obj(
    {
      regarding: ref(
        `io.k8s.api.core.v1.ObjectReference`,
        "The object this event is about.",
      ),
      related: ref(`io.k8s.api.core.v1.ObjectReference`, "A second object."),
      reason: str("Why the event happened, short and machine readable."),
      note: str("What happened, for a human."),
      type: str("Normal or Warning."),
      action: str("What action was taken or failed."),
      eventTime: time("When the event was first observed (microseconds)."),
      series,
      reportingController: str("The controller that emitted the event."),
      reportingInstance: str("The instance (e.g. node) of the controller."),
      deprecatedSource: obj({ component: str(), host: str() }),
      deprecatedFirstTimestamp: time(),
      deprecatedLastTimestamp: time(),
      deprecatedCount: int(),
    },
    "A report of something that happened in the cluster.",
    ["eventTime"],
  ),
};

/** core/v1 field -> events.k8s.io/v1 field. */
const RENAMES: [string, string][] = [
  ["involvedObject", "regarding"],
  ["message", "note"],
  ["reportingComponent", "reportingController"],
  ["source", "deprecatedSource"],
  ["firstTimestamp", "deprecatedFirstTimestamp"],
  ["lastTimestamp", "deprecatedLastTimestamp"],
  ["count", "deprecatedCount"],
];
const SAME = [
  "reason",
  "type",
  "action",
  "eventTime",
  "series",
  "related",
  "reportingInstance",
];

function rename(
  from: KubeObject,
  apiVersion: string,
  pairs: [string, string][],
): KubeObject {
  const out: KubeObject = {
    apiVersion,
    kind: "Event",
    metadata: from.metadata,
  };
  for (const [a, b] of pairs) {
    if (from[a] !== undefined && from[a] !== null) out[b] = from[a];
  }
  for (const k of SAME) {
    if (from[k] !== undefined && from[k] !== null) out[k] = from[k];
  }
  return out;
}

export function eventToV1(core: KubeObject): KubeObject {
  return rename(core, "events.k8s.io/v1", RENAMES);
}

export function eventFromV1(v1: KubeObject): KubeObject {
  return rename(v1, "v1", RENAMES.map(([a, b]) => [b, a]));
}

/** The time an event last happened (for LAST SEEN and the TTL). */
export function lastSeen(e: KubeObject): string {
  const t = get(e, "series.lastObservedTime") ?? e.lastTimestamp ??
    e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
  return typeof t === "string" ? t : "";
}

function since(t: unknown, now: number): string {
  const ms = Date.parse(typeof t === "string" ? t : "");
  return Number.isNaN(ms) ? "<unknown>" : humanDuration(now - ms);
}

function objectCell(e: KubeObject): string {
  const kind = get(e, "involvedObject.kind");
  const name = get(e, "involvedObject.name");
  return `${typeof kind === "string" ? kind.toLowerCase() : ""}/${
    typeof name === "string" ? name : ""
  }`;
}

const printer: Printer = {
  columns: [
    col("Last Seen", "Time since the event last happened."),
    col("Type", "Normal or Warning."),
    col("Reason", "Why the event happened."),
    col("Object", "The object the event is about."),
    col("Subobject", "The part of the object.", 1),
    col("Source", "Who reported it.", 1),
    col("Message", "What happened."),
    col("First Seen", "Time since the event first happened.", 1),
    col("Count", "How many times it happened.", 1, "integer"),
    col("Name", "Name must be unique within a namespace.", 1, "string", "name"),
  ],
  cells: (e, now) => [
    since(lastSeen(e), now),
    cell(e.type, ""),
    cell(e.reason, ""),
    objectCell(e),
    cell(get(e, "involvedObject.fieldPath"), ""),
    [get(e, "source.component"), get(e, "source.host")]
      .filter((x) => typeof x === "string" && x !== "").join(", ") ||
    cell(e.reportingComponent, ""),
    cell(e.message, ""),
    since(e.firstTimestamp ?? e.eventTime, now),
    typeof e.count === "number" ? e.count : 1,
    e.metadata.name ?? "",
  ],
};

function checkRef(e: KubeObject, field: string): void {
  const r = e[field];
  if (!isObject(r) || typeof r.kind !== "string" || !r.kind) {
    throw ApiError.invalid(
      "Event",
      e.metadata.name ?? "",
      field,
      "Required value: the object the event is about (kind, name)",
    );
  }
}

function prepareCore(e: KubeObject): void {
  checkRef(e, "involvedObject");
  const now = nowTimestamp();
  if (!e.eventTime && !e.firstTimestamp) e.firstTimestamp = now;
  if (!e.eventTime && !e.lastTimestamp) {
    e.lastTimestamp = e.firstTimestamp as Json;
  }
  if (!e.type) e.type = "Normal";
}

function prepareV1(e: KubeObject): void {
  checkRef(e, "regarding");
  if (!e.eventTime) e.eventTime = new Date().toISOString().replace("Z", "000Z");
  if (!e.type) e.type = "Normal";
}

const FIELDS = [
  "metadata.name",
  "metadata.namespace",
  "involvedObject.kind",
  "involvedObject.namespace",
  "involvedObject.name",
  "involvedObject.uid",
  "involvedObject.apiVersion",
  "involvedObject.resourceVersion",
  "involvedObject.fieldPath",
  "reason",
  "reportingComponent",
  "source",
  "type",
] as const;

const common = {
  version: "v1",
  plural: "events",
  singular: "event",
  kind: "Event",
  namespaced: true,
  shortNames: [] as string[],
  categories: [] as string[],
  prefix: "/registry/events/",
  status: false,
  fields: FIELDS,
  nodeAccess: "write" as const,
};

export const EVENTS: ResourceDef = {
  ...common,
  group: "",
  shortNames: ["ev"],
  schema: { name: CORE_NAME, definitions: coreDefinitions },
  printer,
  prepare: prepareCore,
  ttl: { ms: EVENT_TTL_MS, since: lastSeen },
};

/** Field selectors of events.k8s.io/v1 name the core fields, as
 * kube-apiserver's do; they are evaluated on the stored form. */
export const EVENTS_V1: ResourceDef = {
  ...common,
  group: "events.k8s.io",
  schema: { name: V1_NAME, definitions: v1Definitions },
  printer: {
    columns: printer.columns,
    cells: (e, now) => printer.cells(eventFromV1(e), now),
  },
  prepare: prepareV1,
  convert: { fromStored: eventToV1, toStored: eventFromV1 },
  ttl: { ms: EVENT_TTL_MS, since: (e) => lastSeen(eventFromV1(e)) },
};
