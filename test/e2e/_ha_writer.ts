// Child of the HA test: creates Pod objects one by one through one API
// server (no failover) and prints "acked <name>" after each 201, until
// killed; failures are printed and retried with the next name.

import { KubeClient } from "../../src/kube/mod.ts";

const [server, caFile, token] = Deno.args;
const client = new KubeClient({
  server,
  caPem: await Deno.readTextFile(caFile),
  token,
});
const enc = new TextEncoder();
for (let i = 0;; i++) {
  const name = `w-${i}`;
  try {
    await client.create("/api/v1/namespaces/default/pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: "default" },
      spec: { nodeName: "ghost", containers: [{ name: "c", image: "x" }] },
    });
    await Deno.stdout.write(enc.encode(`acked ${name}\n`));
  } catch (e) {
    await Deno.stdout.write(
      enc.encode(`failed ${name}: ${(e as Error).message}\n`),
    );
    await new Promise((r) => setTimeout(r, 100));
  }
}
