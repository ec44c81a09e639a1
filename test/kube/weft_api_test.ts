// The client against weft's own API (createApp over startApiServer with the
// SQLite store): kubeconfig loading, CRUD, watch and the informer, and kubectl
// with the kubeconfig weft writes.

import { assertEquals, assertRejects } from "@std/assert";
import {
  createAuthenticator,
  ensureAdminToken,
  writeAdminKubeconfig,
} from "../../src/api/auth/mod.ts";
import { startApiServer } from "../../src/api/mod.ts";
import {
  fromKubeconfig,
  KubeClient,
  KubeError,
  type Node,
} from "../../src/kube/mod.ts";
import { openSqliteStore } from "../../src/store/mod.ts";
import { ensureServerPKI } from "../../src/tls/mod.ts";
import { until } from "./_fake_apiserver.ts";
import { withWeftServer } from "./_weft_server.ts";

function withWeft(fn: (kubeconfig: string) => Promise<void>): Promise<void> {
  return withWeftServer("weft-api-client-", async (s) => {
    const path = `${s.dir}/weft.yaml`;
    await writeAdminKubeconfig({
      path,
      server: s.url,
      caPem: s.pki.caPem,
      token: await ensureAdminToken(s.dataDir),
    });
    await fn(path);
  });
}

async function kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("kubectl", {
    args: ["--kubeconfig", kubeconfig, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`kubectl ${args.join(" ")}: ${err}`);
  return new TextDecoder().decode(out.stdout);
}

Deno.test("KubeClient from the admin kubeconfig does CRUD on weft's API", () =>
  withWeft(async (kubeconfig) => {
    using c = await fromKubeconfig(kubeconfig);
    await c.create<Node>("/api/v1/nodes", {
      metadata: { name: "n1", labels: { zone: "a" } },
    });
    await c.create<Node>("/api/v1/nodes", {
      metadata: { name: "n2", labels: { zone: "b" } },
    });
    const list = await c.list<Node>("/api/v1/nodes", {
      labelSelector: "zone=a",
    });
    assertEquals(list.items.map((n) => n.metadata.name), ["n1"]);
    assertEquals(/^\d+$/.test(list.resourceVersion), true);
    const got = await c.get<Node>("/api/v1/nodes/n1");
    await c.update("/api/v1/nodes/n1", {
      ...got,
      metadata: { ...got.metadata, labels: { zone: "c" } },
    });
    const stale = await assertRejects(
      () => c.update("/api/v1/nodes/n1", got),
      KubeError,
    );
    assertEquals(stale.status, 409);
    const p = await c.patch<Node>("/api/v1/nodes/n2", {
      metadata: { annotations: { k: "v" } },
    }, "strategic");
    assertEquals(p.metadata.annotations?.k, "v");
    await c.delete("/api/v1/nodes/n2");
    const gone = await assertRejects(
      () => c.get("/api/v1/nodes/n2"),
      KubeError,
    );
    assertEquals(gone.isNotFound, true);
  }));

Deno.test("informer on weft's API sees changes made by kubectl", () =>
  withWeft(async (kubeconfig) => {
    using c = await fromKubeconfig(kubeconfig);
    await c.create<Node>("/api/v1/nodes", { metadata: { name: "n1" } });
    const ac = new AbortController();
    const log: string[] = [];
    const inf = c.informer<Node>("/api/v1/nodes", {
      added: (o) => void log.push(`added ${o.metadata.name}`),
      updated: (o) =>
        void log.push(
          `updated ${o.metadata.name} ${o.metadata.labels?.tier ?? ""}`,
        ),
      deleted: (o) => void log.push(`deleted ${o.metadata.name}`),
    }, { signal: ac.signal });
    try {
      await inf.synced;
      await kubectl(kubeconfig, "label", "node", "n1", "tier=edge");
      await until(() => log.length >= 2, "the label event");
      await kubectl(kubeconfig, "delete", "node", "n1");
      await until(() => log.length >= 3, "the delete event");
      assertEquals(log, ["added n1", "updated n1 edge", "deleted n1"]);
    } finally {
      ac.abort();
      await inf.done;
    }
  }));

Deno.test("kubectl get nodes works with the written kubeconfig", () =>
  withWeft(async (kubeconfig) => {
    using c = await fromKubeconfig(kubeconfig);
    await c.create<Node>("/api/v1/nodes", { metadata: { name: "edge-1" } });
    const out = await kubectl(
      kubeconfig,
      "get",
      "nodes",
      "-o",
      "jsonpath={.items[*].metadata.name}",
    );
    assertEquals(out, "edge-1");
  }));

Deno.test("informer resumes across a weft API restart, and relists after compaction", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-api-restart-" });
  const dataDir = `${dir}/data`;
  const pki = await ensureServerPKI({ dataDir, hostname: "s", addresses: [] });
  const store = openSqliteStore(`${dir}/state.db`);
  const start = (port: number) =>
    startApiServer({
      store,
      authenticate: createAuthenticator({ dataDir }),
      cert: pki.certPem,
      key: pki.keyPem,
      port,
      hostname: "127.0.0.1",
    });
  let server = await start(0);
  const port = server.port;
  const ac = new AbortController();
  const putNode = (name: string) =>
    store.create(
      `/registry/nodes/${name}`,
      JSON.stringify({ metadata: { name, uid: crypto.randomUUID() } }),
    );
  try {
    using c = new KubeClient({
      server: `https://127.0.0.1:${port}`,
      caPem: pki.caPem,
      token: await ensureAdminToken(dataDir),
    });
    await c.create<Node>("/api/v1/nodes", { metadata: { name: "n1" } });
    const log: string[] = [];
    const inf = c.informer<Node>("/api/v1/nodes", {
      added: (o) => void log.push(`added ${o.metadata.name}`),
      updated: (o) => void log.push(`updated ${o.metadata.name}`),
      deleted: (o) => void log.push(`deleted ${o.metadata.name}`),
      synced: () => void log.push("synced"),
    }, { signal: ac.signal, initialBackoffMs: 10, maxBackoffMs: 50 });
    await inf.synced;
    assertEquals(log, ["added n1", "synced"]);

    // Down: one change; up again: the watch resumes and sees it exactly once.
    await server.close();
    await putNode("n2");
    server = await start(port);
    await until(() => log.includes("added n2"), "n2 after the restart");
    await c.create<Node>("/api/v1/nodes", { metadata: { name: "n3" } });
    await until(() => log.includes("added n3"), "n3");
    assertEquals(log, ["added n1", "synced", "added n2", "added n3"]);

    // Down: changes, then the history is compacted; up again: 410 -> relist.
    await server.close();
    await store.delete("/registry/nodes/n1");
    await putNode("n4");
    await store.compact(await store.revision());
    server = await start(port);
    await until(
      () => log.filter((l) => l === "synced").length === 2,
      "the relist",
    );
    assertEquals(log.slice(4).sort(), ["added n4", "deleted n1", "synced"]);
    assertEquals([...inf.cache.keys()].sort(), ["n2", "n3", "n4"]);
    ac.abort();
    await inf.done;
  } finally {
    ac.abort();
    await server.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
