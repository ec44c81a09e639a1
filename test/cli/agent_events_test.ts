import { assertEquals, assertMatch } from "@std/assert";
import {
  cniOperationSeen,
  flannelEvents,
  restartEvents,
} from "../../src/cli/agent_events.ts";
import {
  type CoreEvent,
  EventRecorder,
  type EventSink,
} from "../../src/kube/mod.ts";
import { cniOperationDuration, cniOperations } from "../../src/metrics/mod.ts";

function recorder() {
  const created: CoreEvent[] = [];
  const sink: EventSink = {
    create: (ev) => {
      created.push(ev);
      return Promise.resolve(ev);
    },
    bump: () => Promise.resolve(),
  };
  return {
    created,
    events: new EventRecorder(sink, { component: "weft-agent", host: "n1" }),
  };
}

Deno.test("a failed CNI ADD is counted and becomes a FailedCNIAdd warning; a DEL failure is only counted", async () => {
  const r = recorder();
  const err = { plugin: "flannel", command: "ADD", result: "error" };
  const before = cniOperations.get(err);
  const timed = cniOperationDuration.count({
    plugin: "flannel",
    command: "ADD",
  });
  cniOperationSeen(r.events, "n1", {
    plugin: "flannel",
    command: "ADD",
    ok: false,
    seconds: 0.02,
    containerId: "0123456789abcdef0123",
    pod: "default/web-1",
    error: "no IP addresses available in range set",
  });
  cniOperationSeen(r.events, "n1", {
    plugin: "flannel",
    command: "DEL",
    ok: false,
    seconds: 0.01,
    containerId: "x",
  });
  await r.events.flush();
  assertEquals(cniOperations.get(err), before + 1);
  assertEquals(
    cniOperationDuration.count({ plugin: "flannel", command: "ADD" }),
    timed + 1,
  );
  assertEquals(r.created.map((e) => [e.reason, e.type]), [
    ["FailedCNIAdd", "Warning"],
  ]);
  assertMatch(
    r.created[0].message,
    /pod default\/web-1 \(flannel\) failed: no IP/,
  );
  assertEquals(r.created[0].involvedObject, {
    apiVersion: "v1",
    kind: "Node",
    name: "n1",
    uid: "n1",
  });
});

Deno.test("CNI label values are bounded to known plugins and commands", () => {
  const r = recorder();
  const other = { plugin: "other", command: "other", result: "success" };
  const before = cniOperations.get(other);
  cniOperationSeen(r.events, "n1", {
    plugin: "x".repeat(10_000),
    command: "RM -RF",
    ok: true,
    seconds: NaN,
    containerId: "c",
  });
  assertEquals(cniOperations.get(other), before + 1);
});

Deno.test("flannel reports and task restarts become node events", async () => {
  const r = recorder();
  flannelEvents(r.events, "n1")({
    reason: "LeaseRejected",
    type: "Warning",
    message:
      "lease of node x: podCIDR 0.0.0.0/0 is outside the flannel network",
  });
  const onRestart = restartEvents(() => r.events, "n1");
  onRestart("flannel", "FlannelError: boom", 1);
  onRestart("tunnel", "Error: x", 3);
  restartEvents(() => undefined, "n1")("flannel", "no recorder yet", 1);
  await r.events.flush();
  assertEquals(r.created.map((e) => e.reason), [
    "LeaseRejected",
    "FlannelFailed",
    "TaskRestarted",
  ]);
  assertMatch(r.created[1].message, /restart 1/);
});
