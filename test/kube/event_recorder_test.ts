import { assertEquals } from "@std/assert";
import {
  type CoreEvent,
  EventRecorder,
  type EventSink,
} from "../../src/kube/mod.ts";

function memorySink(fail = false) {
  const created: CoreEvent[] = [];
  const bumped: CoreEvent[] = [];
  const sink: EventSink = {
    create: (ev) => {
      if (fail) return Promise.reject(new Error("server down"));
      created.push(ev);
      return Promise.resolve(ev);
    },
    bump: (ev) => {
      bumped.push(ev);
      return Promise.resolve(ev);
    },
  };
  return { sink, created, bumped };
}

const flap = (message = "session closed") => ({
  regarding: { kind: "Node", name: "n1" },
  reason: "TunnelDisconnected",
  type: "Warning" as const,
  message,
});

Deno.test("EventRecorder aggregates an event repeated within 10 minutes into count", async () => {
  let now = Date.parse("2026-01-01T00:00:00Z");
  const m = memorySink();
  const r = new EventRecorder(m.sink, {
    component: "t",
    host: "n1",
    now: () => now,
  });
  r.record(flap());
  now += 1000;
  r.record(flap());
  r.record(flap());
  await r.flush();
  assertEquals(m.created.length, 1);
  assertEquals(m.bumped.map((e) => e.count), [2, 3]);
  assertEquals(m.bumped[1].metadata.name, m.created[0].metadata.name);
  assertEquals(m.bumped[1].lastTimestamp, "2026-01-01T00:00:01Z");
  assertEquals(m.created[0].source, { component: "t", host: "n1" });
  // A different message is a different event; after the window, a new one.
  r.record(flap("other"));
  now += 11 * 60_000;
  r.record(flap());
  await r.flush();
  assertEquals(m.created.length, 3);
});

Deno.test("EventRecorder limits each object to a burst, then one per refill period", async () => {
  let now = 0;
  const m = memorySink();
  const outcomes: string[] = [];
  const r = new EventRecorder(m.sink, {
    component: "t",
    burst: 3,
    refillMs: 1000,
    now: () => now,
    outcome: (o) => outcomes.push(o),
  });
  for (let i = 0; i < 5; i++) r.record(flap(`m${i}`));
  await r.flush();
  assertEquals(outcomes, [
    "created",
    "created",
    "created",
    "dropped",
    "dropped",
  ]);
  now += 1000;
  r.record(flap("later"));
  r.record(flap("later2"));
  await r.flush();
  assertEquals(outcomes.slice(5), ["created", "dropped"]);
  // Another object has its own bucket.
  r.record({ ...flap(), regarding: { kind: "Node", name: "n2" } });
  await r.flush();
  assertEquals(outcomes.at(-1), "created");
});

Deno.test("EventRecorder never throws or blocks: a failing server and a full queue drop events", async () => {
  const m = memorySink(true);
  const outcomes: string[] = [];
  const logs: string[] = [];
  const r = new EventRecorder(m.sink, {
    component: "t",
    maxQueue: 2,
    retries: 0,
    log: (l) => logs.push(l),
    outcome: (o) => outcomes.push(o),
  });
  for (let i = 0; i < 5; i++) r.record(flap(`m${i}`)); // returns at once
  await r.flush();
  // The first is taken off the queue at once; two wait; the rest are dropped.
  assertEquals(outcomes.filter((o) => o === "failed").length, 3);
  assertEquals(outcomes.filter((o) => o === "dropped").length, 2);
  assertEquals(logs.length, 3);
});

Deno.test("EventRecorder bounds hostile input: a 100 kB message is cut, a long name stays valid", async () => {
  const m = memorySink();
  const r = new EventRecorder(m.sink, { component: "t" });
  r.record({
    regarding: { kind: "Node", name: "n".repeat(253) },
    reason: "X",
    message: "x".repeat(100_000),
  });
  await r.flush();
  assertEquals(m.created[0].message.length, 1024);
  assertEquals(m.created[0].metadata.name.length <= 253, true);
});

Deno.test("EventRecorder tries a failed send again later (a credential being renewed)", async () => {
  let down = true;
  const created: CoreEvent[] = [];
  const outcomes: string[] = [];
  const r = new EventRecorder({
    create: (ev) => {
      if (down) return Promise.reject(new Error("401 Unauthorized"));
      created.push(ev);
      return Promise.resolve(ev);
    },
    bump: () => Promise.resolve(),
  }, {
    component: "t",
    retries: 3,
    retryMs: 10,
    outcome: (o) => outcomes.push(o),
  });
  r.record(flap());
  await r.flush();
  assertEquals(outcomes, []); // not given up: waiting for a retry
  down = false;
  for (let i = 0; i < 100 && created.length === 0; i++) {
    await new Promise((res) => setTimeout(res, 10));
  }
  await r.flush();
  assertEquals(outcomes, ["created"]);
  assertEquals(created.length, 1);
  // close() drops waiting retries: nothing is left behind.
  down = true;
  r.record(flap("later"));
  await r.flush();
  r.close();
  r.record(flap("after close"));
  assertEquals(outcomes, ["created", "dropped"]);
});
