// Real kubectl against startApiServer over TLS with a kubeconfig (bearer
// token + CA): the commands an operator runs against weft.

import { assert, assertEquals, assertMatch } from "@std/assert";
import { parse as parseYaml } from "@std/yaml";
import { ADMIN, node } from "./_fixture.ts";
import { type TestServer, testServer } from "./_server.ts";

const KUBECTL = "/usr/bin/kubectl";
const haveKubectl = await Deno.stat(KUBECTL).then(() => true, () => false);
if (!haveKubectl) {
  console.log(`skipping kubectl tests: ${KUBECTL} is not installed`);
}

async function kubectl(s: TestServer, ...args: string[]) {
  return await kubectlEnv(s, {}, ...args);
}

async function kubectlEnv(
  s: TestServer,
  env: Record<string, string>,
  ...args: string[]
) {
  const out = await new Deno.Command(KUBECTL, {
    args: ["--kubeconfig", s.kubeconfig, ...args],
    env: { HOME: s.tls.dir, KUBECACHEDIR: `${s.tls.dir}/kcache`, ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

async function ok(s: TestServer, ...args: string[]): Promise<string> {
  const r = await kubectl(s, ...args);
  assertEquals(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function api(
  s: TestServer,
  method: string,
  path: string,
  body?: unknown,
  type = "application/json",
) {
  return fetch(`${s.url}${path}`, {
    client: s.client,
    method,
    headers: { authorization: ADMIN, "content-type": type },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const readyNode = (name: string) =>
  node(name, {
    metadata: {
      name,
      labels: { "node-role.kubernetes.io/control-plane": "true" },
    },
    status: {
      conditions: [{ type: "Ready", status: "True" }],
      nodeInfo: { kubeletVersion: "v1.32.0+weft" },
      addresses: [{ type: "InternalIP", address: "192.168.5.10" }],
    },
  });

Deno.test({
  name: "kubectl get nodes, -o yaml, -o jsonpath, get --raw /version",
  ignore: !haveKubectl,
  fn: async () => {
    await using s = await testServer();
    assertEquals(
      (await api(s, "POST", "/api/v1/nodes", readyNode("edge-1"))).status,
      201,
    );
    const table = await ok(s, "get", "nodes");
    const lines = table.trim().split("\n");
    assertMatch(lines[0], /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION$/);
    assertMatch(
      lines[1],
      /^edge-1\s+Ready\s+control-plane\s+\S+\s+v1\.32\.0\+weft$/,
    );
    const wide = await ok(s, "get", "nodes", "-o", "wide");
    assertMatch(wide, /192\.168\.5\.10/);
    const yaml = parseYaml(await ok(s, "get", "nodes", "-o", "yaml")) as {
      kind: string;
      items: { metadata: { name: string }; spec: { podCIDR: string } }[];
    };
    assertEquals(yaml.kind, "List");
    assertEquals(yaml.items[0].metadata.name, "edge-1");
    assertEquals(yaml.items[0].spec.podCIDR, "10.42.0.0/24");
    const one = parseYaml(
      await ok(s, "get", "node", "edge-1", "-o", "yaml"),
    ) as { kind: string };
    assertEquals(one.kind, "Node");
    assertEquals(
      await ok(s, "get", "node", "edge-1", "-o", "jsonpath={.spec.podCIDR}"),
      "10.42.0.0/24",
    );
    const v = JSON.parse(await ok(s, "get", "--raw", "/version"));
    assertEquals(v.gitVersion, "v1.32.0+weft");
    const missing = await kubectl(s, "get", "node", "nope");
    assertEquals(missing.code, 1);
    assertMatch(missing.stderr, /NotFound.*nodes "nope" not found/);
  },
});

Deno.test({
  name: "kubectl annotate and label change the node; delete removes it",
  ignore: !haveKubectl,
  fn: async () => {
    await using s = await testServer();
    await api(s, "POST", "/api/v1/nodes", readyNode("edge-1"));
    assertMatch(
      await ok(s, "annotate", "node", "edge-1", "weft.io/note=hello"),
      /node\/edge-1 annotated/,
    );
    assertMatch(
      await ok(s, "label", "node", "edge-1", "zone=lab"),
      /node\/edge-1 labeled/,
    );
    let n = await (await api(s, "GET", "/api/v1/nodes/edge-1")).json();
    assertEquals(n.metadata.annotations["weft.io/note"], "hello");
    assertEquals(n.metadata.labels.zone, "lab");
    assertMatch(await ok(s, "label", "node", "edge-1", "zone-"), /unlabeled/);
    assertMatch(
      await ok(s, "label", "node", "edge-1", "zone=other", "--overwrite"),
      /labeled/,
    );
    assertEquals(
      await ok(
        s,
        "get",
        "nodes",
        "-l",
        "zone=other",
        "-o",
        "jsonpath={.items[*].metadata.name}",
      ),
      "edge-1",
    );
    n = await (await api(s, "GET", "/api/v1/nodes/edge-1")).json();
    assertEquals(n.metadata.labels.zone, "other");
    assertMatch(
      await ok(s, "delete", "node", "edge-1"),
      /node "edge-1" deleted/,
    );
    assertEquals((await api(s, "GET", "/api/v1/nodes/edge-1")).status, 404);
    assertMatch(await ok(s, "get", "pods", "-A"), /^$/);
  },
});

Deno.test({
  name: "kubectl get nodes -w sees a change made by another client",
  ignore: !haveKubectl,
  fn: async () => {
    await using s = await testServer();
    await api(s, "POST", "/api/v1/nodes", readyNode("edge-1"));
    const child = new Deno.Command(KUBECTL, {
      args: ["--kubeconfig", s.kubeconfig, "get", "nodes", "-w"],
      env: { HOME: s.tls.dir, KUBECACHEDIR: `${s.tls.dir}/kcache` },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let out = "";
    const until = async (re: RegExp) => {
      while (!re.test(out)) {
        const r = await reader.read();
        if (r.done) throw new Error(`kubectl -w ended; output:\n${out}`);
        out += r.value;
      }
    };
    try {
      await until(/edge-1\s+Ready/);
      const patched = await api(s, "PATCH", "/api/v1/nodes/edge-1/status", {
        status: { conditions: [{ type: "Ready", status: "False" }] },
      }, "application/strategic-merge-patch+json");
      assertEquals(patched.status, 200);
      await until(/edge-1\s+NotReady/);
      await api(s, "POST", "/api/v1/nodes", readyNode("edge-2"));
      await until(/edge-2\s+Ready/);
    } finally {
      child.kill("SIGTERM");
      await reader.cancel();
      await child.status;
      await child.stderr.cancel();
    }
    assert(out.indexOf("NotReady") > out.indexOf("Ready"));
  },
});

/** Writes `text` to a file in the server's temp dir; returns its path. */
async function file(s: TestServer, name: string, text: string) {
  const path = `${s.tls.dir}/${name}`;
  await Deno.writeTextFile(path, text);
  return path;
}

const NODE_YAML = [
  "apiVersion: v1",
  "kind: Node",
  "metadata:",
  "  name: edge-9",
  "  labels: {zone: lab}",
  "spec:",
  "  podCIDR: 10.42.9.0/24",
  "",
].join("\n");

Deno.test({
  name:
    "kubectl create, apply twice, diff, edit (EDITOR), replace and explain need no flags",
  ignore: !haveKubectl,
  fn: async () => {
    await using s = await testServer();
    const path = await file(s, "node.yaml", NODE_YAML);
    assertMatch(await ok(s, "create", "-f", path), /node\/edge-9 created/);
    await ok(s, "delete", "node", "edge-9");
    assertMatch(await ok(s, "apply", "-f", path), /node\/edge-9 created/);
    assertMatch(await ok(s, "apply", "-f", path), /node\/edge-9 unchanged/);
    // diff: nothing to show (exit 0), then a change (exit 1, a unified diff).
    assertEquals((await kubectl(s, "diff", "-f", path)).code, 0);
    const changed = await file(
      s,
      "node2.yaml",
      NODE_YAML.replace("zone: lab", "zone: edge") + "  unschedulable: true\n",
    );
    const diff = await kubectl(s, "diff", "-f", changed);
    assertEquals(diff.code, 1, diff.stderr);
    assertMatch(diff.stdout, /^\+\s+unschedulable: true$/m);
    assertMatch(diff.stdout, /^-\s+zone: lab$/m);
    assertMatch(await ok(s, "apply", "-f", changed), /configured/);
    let n = await (await api(s, "GET", "/api/v1/nodes/edge-9")).json();
    assertEquals([n.spec.unschedulable, n.metadata.labels.zone], [
      true,
      "edge",
    ]);
    assertEquals(n.spec.podCIDR, "10.42.9.0/24");
    // Dropping a label from the file removes it (the last-applied annotation).
    const dropped = await file(
      s,
      "node3.yaml",
      NODE_YAML.replace("  labels: {zone: lab}\n", ""),
    );
    await ok(s, "apply", "-f", dropped);
    n = await (await api(s, "GET", "/api/v1/nodes/edge-9")).json();
    assertEquals(n.metadata.labels?.zone, undefined);
    assertEquals(n.spec.unschedulable, undefined);

    const editor = await file(
      s,
      "editor.sh",
      '#!/bin/sh\nsed -i \'s/^metadata:/metadata:\\n  labels:\\n    edited: "yes"/\' "$1"\n',
    );
    await Deno.chmod(editor, 0o755);
    const edited = await kubectlEnv(
      s,
      { EDITOR: editor },
      "edit",
      "node",
      "edge-9",
    );
    assertEquals(edited.code, 0, edited.stderr);
    assertMatch(edited.stdout, /node\/edge-9 edited/);
    n = await (await api(s, "GET", "/api/v1/nodes/edge-9")).json();
    assertEquals(n.metadata.labels.edited, "yes");

    const current = await ok(s, "get", "node", "edge-9", "-o", "yaml");
    const rep = await file(
      s,
      "replace.yaml",
      current.replace('edited: "yes"', "edited: replaced"),
    );
    assertMatch(await ok(s, "replace", "-f", rep), /node\/edge-9 replaced/);
    n = await (await api(s, "GET", "/api/v1/nodes/edge-9")).json();
    assertEquals(n.metadata.labels.edited, "replaced");

    const explain = await ok(s, "explain", "node.spec.podCIDR");
    assertMatch(explain, /FIELD:\s+podCIDR <string>/);
    assertMatch(explain, /IP range assigned to the node/);

    // Unknown fields are refused by the server (kubectl asks for Strict).
    const bad = await file(
      s,
      "bad.yaml",
      NODE_YAML.replace("podCIDR:", "podCIDRx:"),
    );
    const refused = await kubectl(s, "create", "-f", bad);
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /unknown field "spec\.podCIDRx"/);
  },
});

Deno.test({
  name:
    "kubectl get ns, get events -A, kubectl events, describe node with events",
  ignore: !haveKubectl,
  fn: async () => {
    await using s = await testServer();
    await api(s, "POST", "/api/v1/nodes", readyNode("edge-1"));
    const ns = await ok(s, "get", "ns");
    assertMatch(ns, /^NAME\s+STATUS\s+AGE$/m);
    assertMatch(ns, /^default\s+Active\s+/m);
    assertMatch(ns, /^kube-system\s+Active\s+/m);
    const labels = await ok(s, "get", "ns", "default", "--show-labels");
    assertMatch(labels, /kubernetes\.io\/metadata\.name=default/);

    const events = await ok(s, "get", "events", "-A");
    assertMatch(
      events,
      /^NAMESPACE\s+LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/m,
    );
    assertMatch(
      events,
      /^default\s+\S+\s+Normal\s+RegisteredNode\s+node\/edge-1\s+/m,
    );
    assertMatch(events, /PodCIDRAssigned\s+node\/edge-1\s+.*10\.42\.0\.0\/24/);
    const kev = await ok(s, "events", "-A");
    assertMatch(kev, /RegisteredNode\s+Node\/edge-1/);
    const forNode = await ok(s, "events", "--for", "node/edge-1");
    assertMatch(forNode, /PodCIDRAssigned/);
    const describe = await ok(s, "describe", "node", "edge-1");
    assertMatch(describe, /^Events:$/m);
    assertMatch(
      describe,
      /Normal\s+RegisteredNode\s+\S+\s+weft-server\s+Registered Node edge-1/,
    );
    const v1 = await ok(
      s,
      "get",
      "events.v1.events.k8s.io",
      "-A",
      "-o",
      "name",
    );
    assertEquals(v1.trim().split("\n").length, 2);
  },
});

Deno.test({
  name:
    "kubectl apply --server-side creates, then updates; missing namespace is NotFound",
  ignore: !haveKubectl,
  fn: async () => {
    await using s = await testServer();
    const path = await file(
      s,
      "ns.yaml",
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels: {owner: ops}\n",
    );
    assertMatch(
      await ok(s, "apply", "--server-side", "-f", path),
      /namespace\/team-a serverside-applied/,
    );
    await Deno.writeTextFile(
      path,
      (await Deno.readTextFile(path)).replace("ops", "dev"),
    );
    assertMatch(
      await ok(s, "apply", "--server-side", "-f", path),
      /serverside-applied/,
    );
    let ns = await (await api(s, "GET", "/api/v1/namespaces/team-a")).json();
    assertEquals(ns.metadata.labels.owner, "dev");
    // Another manager setting the same field differently conflicts ...
    const other = await file(
      s,
      "ns2.yaml",
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels: {owner: qa}\n",
    );
    const clash = await kubectl(
      s,
      "apply",
      "--server-side",
      "--field-manager=qa",
      "-f",
      other,
    );
    assertEquals(clash.code, 1);
    assertMatch(
      clash.stderr,
      /conflict with "kubectl".*\.metadata\.labels\.owner/s,
    );
    // ... until forced; then the first manager dropping it keeps qa's.
    await ok(
      s,
      "apply",
      "--server-side",
      "--field-manager=qa",
      "--force-conflicts",
      "-f",
      other,
    );
    await Deno.writeTextFile(
      path,
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels: {tier: x}\n",
    );
    await ok(s, "apply", "--server-side", "-f", path);
    ns = await (await api(s, "GET", "/api/v1/namespaces/team-a")).json();
    assertEquals(ns.metadata.labels.owner, "qa");
    assertEquals(ns.metadata.labels.tier, "x");
    await Deno.writeTextFile(
      path,
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
    );
    await ok(s, "apply", "--server-side", "-f", path);
    ns = await (await api(s, "GET", "/api/v1/namespaces/team-a")).json();
    assertEquals(ns.metadata.labels.tier, undefined);
    const pod = await file(
      s,
      "pod.yaml",
      [
        "apiVersion: v1",
        "kind: Pod",
        "metadata: {name: web, namespace: nope}",
        "spec:",
        "  containers: [{name: c, image: busybox}]",
        "",
      ].join("\n"),
    );
    const missing = await kubectl(s, "create", "-f", pod);
    assertEquals(missing.code, 1);
    assertMatch(missing.stderr, /NotFound.*namespaces "nope" not found/);
    await Deno.writeTextFile(
      pod,
      (await Deno.readTextFile(pod)).replace("nope", "team-a"),
    );
    assertMatch(await ok(s, "apply", "-f", pod), /pod\/web created/);
    assertMatch(
      await ok(s, "get", "pods", "-A"),
      /^team-a\s+web\s+0\/1\s+Pending/m,
    );
  },
});
