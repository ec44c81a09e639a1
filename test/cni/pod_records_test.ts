// Pods appear on the network: containers attached through weft's flannel
// plugin — through the agent's CNI socket and without a running agent —
// are recorded as Pods by the agent's recorder, listed by the real kubectl
// (`get pods -A -o wide`) with their IP and node, and disappear on DEL; a
// Pod an operator created beforehand gets its status filled (its labels
// kept) and cleared; a container whose netns vanished without DEL is
// dropped. All in test namespaces against a TLS API server.

import { assert, assertEquals } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { startServer } from "./_agent_server.ts";
import { installPlugins } from "../../src/cli/cni_install.ts";
import { KubeClient } from "../../src/kube/mod.ts";
import {
  podKey,
  RecorderWake,
  runPodRecorder,
} from "../../src/cli/cni_pods.ts";
import { readPodRecords } from "../../src/cni/pod_record.ts";
import { type TestServer, testServer } from "../api/_server.ts";
import { ADMIN } from "../api/_fixture.ts";
import { type ExecCni, execCni, writeK3sConflist } from "./_helpers.ts";

const KUBECTL = "/usr/bin/kubectl";
const haveKubectl = await Deno.stat(KUBECTL).then(() => true, () => false);
if (!haveKubectl) {
  console.log(`skipping the pod record test: ${KUBECTL} is not installed`);
}

async function kubectl(s: TestServer, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(KUBECTL, {
    args: ["--kubeconfig", s.kubeconfig, ...args],
    env: { HOME: s.tls.dir, KUBECACHEDIR: `${s.tls.dir}/kcache` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  assertEquals(out.code, 0, `kubectl ${args.join(" ")}: ${text(out.stderr)}`);
  return text(out.stdout);
}

/** `kubectl get pods -A -o wide` as rows of {ns, name, status, ip, node}. */
async function podRows(s: TestServer) {
  const out = await kubectl(s, "get", "pods", "-A", "-o", "wide");
  return out.trim().split("\n").slice(1).filter((l) => l).map((l) => {
    const c = l.split(/\s+/);
    return { ns: c[0], name: c[1], status: c[3], ip: c[6], node: c[7] };
  }).sort((a, b) => a.name.localeCompare(b.name));
}

/** Polls `probe` until `done` (every 200 ms, at most 20 s). */
async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean) {
  let v = await probe();
  for (let i = 0; i < 100 && !done(v); i++) {
    await new Promise((r) => setTimeout(r, 200));
    v = await probe();
  }
  return v;
}

Deno.test({
  name:
    "containers attached through the CNI, with and without the agent, appear in kubectl get pods -A -o wide and go on DEL",
  ignore: !haveKubectl,
  fn: async () => {
    await using api = await testServer();
    await using host = await Netns.create("prh");
    await using podA = await Netns.create("pra");
    await using podB = await Netns.create("prb");
    const podC = await Netns.create("prc");
    const dir = await Deno.makeTempDir({ prefix: "weft-pod-records-" });
    const stop = new AbortController();
    let recorder: Promise<void> | undefined;
    try {
      const bin = `${dir}/bin`;
      await installPlugins(bin, Deno.execPath(), { bundle: false });
      const conflist = writeK3sConflist(
        dir,
        "10-flannel.conflist",
        "10.42.7.1/24",
        [],
      );
      const socket = `${dir}/cni.sock`;
      await using _server = await startServer(host, socket);
      const cni = (
        sock: string,
        verb: ExecCni["verb"],
        netns: Netns,
        cid: string,
        args = "",
      ) =>
        execCni(host, {
          verb,
          conflist,
          bin,
          cache: `${dir}/cache`,
          netns: netns.path,
          cid,
          socket: sock,
          args,
        }).then(() => {});
      const absent = `${dir}/absent.sock`;

      // An operator's pod, bound to n1, that the runtime names in CNI_ARGS.
      const pre = await fetch(`${api.url}/api/v1/namespaces/default/pods`, {
        client: api.client,
        method: "POST",
        headers: { authorization: ADMIN, "content-type": "application/json" },
        body: JSON.stringify({
          metadata: { name: "web-1", labels: { app: "web" } },
          spec: {
            nodeName: "n1",
            containers: [{ name: "web", image: "nginx" }],
          },
        }),
      });
      assertEquals(pre.status, 201);
      await pre.body?.cancel();

      // Before the recorder runs (the server was down, say): one ADD through
      // the agent with K8S_POD_* args, one without an agent.
      await cni(
        socket,
        "add",
        podA,
        "pod-a",
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1",
      );
      await cni(absent, "add", podB, "b0c1d2e3f4a5b6c7d8e9");
      assertEquals(readPodRecords(`${dir}/weft-pods`).length, 2);

      const client = new KubeClient({
        server: api.url,
        token: "node:n1",
        caPem: api.tls.caPem,
      });
      recorder = runPodRecorder({
        client: () => client,
        nodeName: "n1",
        nodeIPs: () => ["192.168.5.10"],
        dir: `${dir}/weft-pods`,
        log: () => {},
        signal: stop.signal,
        wake: new RecorderWake(),
        intervalMs: 500,
      }).finally(() => client.close());

      // While it runs: a third container, without an agent.
      await cni(absent, "add", podC, "pod-c");
      const want = (rows: Awaited<ReturnType<typeof podRows>>) =>
        rows.length === 3 && rows.every((r) => r.status === "Running");
      const rows = await until(() => podRows(api), want);
      // Without K8S_POD_* args: <node>-<first 12 of a hex id, else of its
      // SHA-256>.
      const c = await podKey("n1", { containerId: "pod-c" } as never);
      assert(/^n1-[0-9a-f]{12}$/.test(c.name), c.name);
      assertEquals(
        rows.map((r) => [r.ns, r.name, r.status, r.node]),
        [
          ["default", "n1-b0c1d2e3f4a5", "Running", "n1"],
          ["default", c.name, "Running", "n1"],
          ["default", "web-1", "Running", "n1"],
        ].sort((a, b) => a[1].localeCompare(b[1])),
      );
      assert(
        rows.every((r) => r.ip.startsWith("10.42.7.")),
        JSON.stringify(rows),
      );
      assertEquals(new Set(rows.map((r) => r.ip)).size, 3);
      const web = JSON.parse(
        await kubectl(api, "get", "pod", "web-1", "-o", "json"),
      );
      assertEquals(web.metadata.labels, { app: "web" });
      assertEquals(web.metadata.annotations["weft.io/container-id"], "pod-a");
      assertEquals(web.metadata.annotations["weft.io/interface"], "eth0");
      assertEquals(web.spec.containers[0].image, "nginx");
      assertEquals(web.status.podIPs, [{ ip: web.status.podIP }]);

      // pod-c's netns goes without a DEL: its pod goes too.
      await podC[Symbol.asyncDispose]();
      const afterVanish = await until(
        () => podRows(api),
        (r) => r.length === 2,
      );
      assertEquals(afterVanish.map((r) => r.name).sort(), [
        "n1-b0c1d2e3f4a5",
        "web-1",
      ]);

      // DEL through the agent and without one.
      await cni(
        socket,
        "del",
        podA,
        "pod-a",
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1",
      );
      await cni(absent, "del", podB, "b0c1d2e3f4a5b6c7d8e9");
      const gone = await until(
        () => podRows(api),
        (r) => r.length === 1 && r[0].ip === "<none>",
      );
      assertEquals(gone.map((r) => [r.name, r.ip]), [["web-1", "<none>"]]);
      const after = JSON.parse(
        await kubectl(api, "get", "pod", "web-1", "-o", "json"),
      );
      assertEquals(after.metadata.labels, { app: "web" });
      assertEquals(
        after.metadata.annotations?.["weft.io/container-id"],
        undefined,
      );
      assertEquals(after.status.podIP, undefined);
    } finally {
      stop.abort();
      await recorder?.catch(() => {});
      await podC[Symbol.asyncDispose]().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
