// Issue 16, end to end: a real `weft server` and two `weft agent`s (vxlan)
// in weft-t- network namespaces, pods made through weft's CNI (CNI_ARGS
// K8S_POD_NAMESPACE/K8S_POD_NAME) on both agents and recorded in the API
// with their labels and IPs, then `kubectl apply` of a default-deny ingress
// policy and of an allow-from-label policy: what the pods can reach, on the
// same node and across nodes, flips accordingly; `kubectl delete` restores
// it. Enforced by each agent's network-policy task from the API's
// networking.k8s.io/v1 NetworkPolicy objects.

import { assertEquals } from "@std/assert";
import { Demo } from "../../src/cli/demo/mod.ts";
import { tcpCheck } from "../../src/cli/demo/matrix.ts";
import { exec } from "../../src/cli/demo/proc.ts";
import { RESPONDER_PORT } from "../../src/cli/demo/responder.ts";
import type { DemoNode } from "../../src/cli/demo/topology.ts";

// The agent's CNI install (K3s's paths under weft's data dir).
const CONFLIST = "/var/lib/weft/agent/etc/cni/net.d/10-flannel.conflist";
const CNI_BIN = "/var/lib/weft/data/cni";
const NS = "np";

interface Pod {
  name: string;
  node: DemoNode;
  labels: Record<string, string>;
  netns: string;
  ip: string;
}

/** A pod through weft's CNI on `node`, named by CNI_ARGS as a kubelet does. */
async function addPod(
  d: Demo,
  node: DemoNode,
  name: string,
  labels: Record<string, string>,
): Promise<Pod> {
  const netns = await d.topo.addPod(`np-${name}`);
  const r = await exec([
    ...d.topo.enter(node),
    ...d.self,
    "cni",
    "add",
    CONFLIST,
    `/run/netns/${netns}`,
    "--container-id",
    netns,
    "--cni-bin-dir",
    CNI_BIN,
    "--args",
    `K8S_POD_NAMESPACE=${NS}`,
    "--args",
    `K8S_POD_NAME=${name}`,
  ]);
  assertEquals(r.code, 0, `cni add ${name}: ${r.stdout}${r.stderr}`);
  const ip = (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]
    .address.split("/")[0];
  d.responders.serve(`/run/netns/${netns}`, name);
  return { name, node, labels, netns, ip };
}

/** `kubectl apply|delete -f` of `yaml`, as the admin on the server node. */
async function kubectlFile(
  d: Demo,
  verb: "apply" | "delete",
  file: string,
  yaml: string,
): Promise<string> {
  const server = d.topo.nodes[0];
  await Deno.writeTextFile(d.topo.path(server, `/etc/weft/${file}`), yaml);
  const r = await d.kubectl(server, verb, "-f", `/etc/weft/${file}`);
  assertEquals(r.code, 0, `kubectl ${verb} -f ${file}: ${r.stderr}`);
  return r.stdout;
}

/** The Pod objects: labels, node and addresses (until CNI ADD records
 * them), as YAML documents (flow style). */
function podsYaml(pods: Pod[]): string {
  return pods.map((p) =>
    "---\n" + JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: p.name, namespace: NS, labels: p.labels },
      spec: {
        nodeName: p.node.name,
        containers: [{ name: "c", image: "busybox" }],
      },
      status: {
        phase: "Running",
        podIP: p.ip,
        podIPs: [{ ip: p.ip }],
        hostIP: p.node.ip,
      },
    }) + "\n"
  ).join("");
}

const DENY_ALL = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: ${NS}}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`;

const ALLOW_CLIENTS = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-clients, namespace: ${NS}}
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - podSelector:
        matchLabels: {role: client}
    ports:
    - {protocol: TCP, port: ${RESPONDER_PORT}}
`;

/** Which clients reach `to` (TCP to its responder), by name. */
async function reach(
  to: Pod,
  clients: Pod[],
): Promise<Record<string, boolean>> {
  const got = await Promise.all(
    clients.map((c) => tcpCheck(c.netns, to.ip, RESPONDER_PORT, to.name)),
  );
  return Object.fromEntries(clients.map((c, i) => [c.name, got[i] === null]));
}

/** Probes until the matrix is `want` (enforcement is eventual), at most
 * `ms`; returns what was seen last and how long it took. */
async function until(
  d: Demo,
  to: Pod,
  clients: Pod[],
  want: Record<string, boolean>,
  ms = 20_000,
): Promise<{ seen: Record<string, boolean>; after: number }> {
  const start = Date.now();
  while (true) {
    await d.procs.assertAlive();
    const seen = await reach(to, clients);
    const done = JSON.stringify(seen) === JSON.stringify(want);
    if (done || Date.now() - start > ms) {
      return { seen, after: Date.now() - start };
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

const BACKENDS = [
  ["vxlan", "vx"],
  ["host-gw", "hg"],
  ["wireguard-native", "wg"],
] as const;

for (const [backend, tag] of BACKENDS) {
  Deno.test(`kubectl apply of NetworkPolicies changes what pods reach, on the same node and across nodes; delete restores it (${backend})`, async () => {
    await policyFlips(backend, tag);
  });
}

async function policyFlips(
  backend: typeof BACKENDS[number][0],
  tag: string,
): Promise<void> {
  const d = new Demo({
    nodes: 3,
    backend,
    check: true,
    timeoutMs: 60_000,
    // weft-t-<pid>-: the harness sweeps these if this test process dies.
    prefix: `weft-t-${Deno.pid}-np${tag}-`,
  }, new AbortController().signal);
  let ok = false;
  try {
    await d.build();
    const [, n2, n3] = d.topo.nodes;
    // The namespace first, as in a cluster (a CNI ADD that records its pod
    // finds it).
    await kubectlFile(
      d,
      "apply",
      "ns.yaml",
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`,
    );
    const web = await addPod(d, n2, "web", { app: "web" });
    const near = await addPod(d, n2, "near", { role: "client" });
    const far = await addPod(d, n3, "far", { role: "client" });
    const stranger = await addPod(d, n3, "stranger", { role: "other" });
    const clients = [near, far, stranger];
    // The agents record each pod after its CNI ADD has answered: wait for
    // the four, so that apply patches them (it would race the recorder's
    // create otherwise).
    const server = d.topo.nodes[0];
    const end = Date.now() + 20_000;
    for (;;) {
      const r = await d.kubectl(server, "get", "pods", "-n", NS, "-o", "name");
      if (r.stdout.trim().split("\n").filter((l) => l).length === 4) break;
      if (Date.now() > end) throw new Error(`pods not recorded: ${r.stdout}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    await kubectlFile(d, "apply", "pods.yaml", podsYaml([web, ...clients]));

    const open = { near: true, far: true, stranger: true };
    const step = async (what: string, want: Record<string, boolean>) => {
      const r = await until(d, web, clients, want);
      d.report.progress(
        `${what}: ${JSON.stringify(r.seen)} after ${r.after} ms`,
      );
      assertEquals(r.seen, want, what);
    };
    await step("no policy", open);

    await kubectlFile(d, "apply", "deny.yaml", DENY_ALL);
    await step("default deny ingress", {
      near: false,
      far: false,
      stranger: false,
    });

    await kubectlFile(d, "apply", "allow.yaml", ALLOW_CLIENTS);
    await step("allow from role=client", {
      near: true,
      far: true,
      stranger: false,
    });
    // Only ingress is isolated: web still reaches a pod outside np.
    const outside = d.pods.find((p) => p.node === n3)!;
    assertEquals(
      await reach({ ...outside, labels: {} }, [web]),
      { web: true },
    );

    const listed = await d.kubectl(d.topo.nodes[0], "get", "netpol", "-n", NS);
    assertEquals(
      listed.stdout.trim().split("\n").map((l) => l.split(/\s+/).slice(0, 2)),
      [
        ["NAME", "POD-SELECTOR"],
        ["default-deny-ingress", "<none>"],
        ["web-from-clients", "app=web"],
      ],
    );

    await kubectlFile(d, "delete", "allow.yaml", ALLOW_CLIENTS);
    await step("allow deleted, deny stays", {
      near: false,
      far: false,
      stranger: false,
    });
    await kubectlFile(d, "delete", "deny.yaml", DENY_ALL);
    await step("both deleted", open);
    ok = true;
  } finally {
    if (!ok) await d.printLogTails();
    await d.teardown(ok);
  }
}
