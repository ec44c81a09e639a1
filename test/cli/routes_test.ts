// The server's own routes (cluster settings for agents, per-task readiness)
// and the Node object an agent registers.

import { assertEquals } from "@std/assert";
import { Hono } from "hono";
import type { Identity } from "../../src/api/auth/mod.ts";
import {
  clusterConfigOf,
  clusterConfigRoutes,
  CONFIG_PATH,
} from "../../src/cli/cluster_config.ts";
import { resolveConfig } from "../../src/cli/config.ts";
import {
  EGRESS_LABEL,
  nodeAddresses,
  nodeLabels,
} from "../../src/cli/node_register.ts";
import { readinessRoutes, READYZ_PATH } from "../../src/cli/run.ts";
import type { TaskStatus } from "../../src/supervisor/mod.ts";

const node: Identity = {
  user: "system:node:a",
  groups: ["system:nodes"],
  node: "a",
};
const auth = (req: Request) =>
  Promise.resolve(
    req.headers.get("authorization") === "Bearer ok" ? node : null,
  );
const get = (app: Hono, path: string, token?: string) =>
  app.request(path, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });

Deno.test("GET /v1-weft/config gives agents the server's cluster settings, 401 without credentials", async () => {
  const cfg = await resolveConfig({
    command: "server",
    args: [
      "--flannel-backend",
      "host-gw",
      "--egress-selector-mode",
      "pod",
      "--cluster-cidr",
      "10.10.0.0/16",
    ],
    env: {},
    readFile: () => null,
  });
  const app = new Hono();
  clusterConfigRoutes(clusterConfigOf(cfg), auth)(app);
  assertEquals((await get(app, CONFIG_PATH)).status, 401);
  const res = await get(app, CONFIG_PATH, "ok");
  assertEquals(res.status, 200);
  const body = await res.json();
  assertEquals(body.flannelBackend, "host-gw");
  assertEquals(body.egressSelectorMode, "pod");
  assertEquals(body.clusterCIDR, ["10.10.0.0/16"]);
  assertEquals(body.clusterDNS, "10.43.0.10");
});

Deno.test("GET /v1-weft/readyz lists every task and answers 503 until all are ready", async () => {
  let tasks: TaskStatus[] = [
    { name: "api", state: "ready", ready: true, restarts: 0 },
    {
      name: "flannel",
      state: "backoff",
      ready: false,
      restarts: 2,
      lastError: "Error: x",
    },
  ];
  const app = new Hono();
  readinessRoutes(() => tasks, auth)(app);
  assertEquals((await get(app, READYZ_PATH)).status, 401);
  const bad = await get(app, READYZ_PATH, "ok");
  assertEquals(bad.status, 503);
  assertEquals((await bad.json()).tasks[1].restarts, 2);
  tasks = tasks.map((t) => ({ ...t, ready: true, state: "ready" }));
  const good = await get(app, READYZ_PATH, "ok");
  assertEquals(good.status, 200);
  assertEquals((await good.json()).ready, true);
});

Deno.test("the Node carries its addresses, and the egress label only in pod and cluster modes", () => {
  const base = {
    name: "edge-1",
    internalIPs: ["10.0.0.5"],
    externalIPs: ["203.0.113.9"],
  };
  assertEquals(nodeAddresses({ ...base, egressMode: "agent" }), [
    { type: "InternalIP", address: "10.0.0.5" },
    { type: "ExternalIP", address: "203.0.113.9" },
    { type: "Hostname", address: "edge-1" },
  ]);
  for (const mode of ["agent", "disabled"] as const) {
    assertEquals(
      nodeLabels({ ...base, egressMode: mode })[EGRESS_LABEL],
      undefined,
    );
  }
  for (const mode of ["pod", "cluster"] as const) {
    assertEquals(
      nodeLabels({ ...base, egressMode: mode })[EGRESS_LABEL],
      "true",
    );
  }
  assertEquals(
    nodeLabels({ ...base, egressMode: "agent" })["kubernetes.io/hostname"],
    "edge-1",
  );
});
