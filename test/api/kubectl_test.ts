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
  const out = await new Deno.Command(KUBECTL, {
    args: ["--kubeconfig", s.kubeconfig, ...args],
    env: { HOME: s.tls.dir, KUBECACHEDIR: `${s.tls.dir}/kcache` },
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
