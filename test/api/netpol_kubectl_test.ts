// Real kubectl against a TLS API server: NetworkPolicy works with no flags —
// api-resources, apply (create, unchanged, configured), get with kube's
// columns, explain, an invalid policy's error, delete.

import { assertEquals, assertMatch } from "@std/assert";
import { type TestServer, testServer } from "./_server.ts";

const KUBECTL = "/usr/bin/kubectl";
const haveKubectl = await Deno.stat(KUBECTL).then(() => true, () => false);
if (!haveKubectl) {
  console.log(`skipping kubectl netpol tests: ${KUBECTL} is not installed`);
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

const POLICY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: team
spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels:
          role: client
    ports:
    - protocol: TCP
      port: 80
`;

Deno.test({
  name:
    "kubectl api-resources, apply, get, explain and delete networkpolicies with no flags",
  ignore: !haveKubectl,
  fn: async () => {
    await using s = await testServer();
    const res = await ok(s, "api-resources", "--api-group=networking.k8s.io");
    assertMatch(
      res,
      /^networkpolicies\s+netpol\s+networking\.k8s\.io\/v1\s+true\s+NetworkPolicy$/m,
    );
    // (`kubectl create namespace` sends protobuf, which weft does not read.)
    const path = `${s.tls.dir}/policy.yaml`;
    await Deno.writeTextFile(
      path,
      "kind: Namespace\napiVersion: v1\nmetadata: {name: team}\n",
    );
    await ok(s, "apply", "-f", path);
    await Deno.writeTextFile(path, POLICY);
    assertMatch(
      await ok(s, "apply", "-f", path),
      /networkpolicy\.networking\.k8s\.io\/allow-web created/,
    );
    assertMatch(await ok(s, "apply", "-f", path), /allow-web unchanged/);
    await Deno.writeTextFile(path, POLICY.replace("port: 80", "port: http"));
    assertMatch(await ok(s, "apply", "-f", path), /allow-web configured/);
    const port = await ok(
      s,
      "get",
      "netpol",
      "-n",
      "team",
      "allow-web",
      "-o",
      "jsonpath={.spec.ingress[0].ports[0].port}",
    );
    assertEquals(port, "http");

    const table = (await ok(s, "get", "netpol", "-n", "team")).trim()
      .split("\n");
    assertMatch(table[0], /^NAME\s+POD-SELECTOR\s+AGE$/);
    assertMatch(table[1], /^allow-web\s+app=web\s+\d+s$/);
    assertMatch(
      await ok(s, "get", "networkpolicies", "-A"),
      /^team\s+allow-web\s+app=web\s+/m,
    );

    const explain = await ok(s, "explain", "networkpolicy.spec.podSelector");
    assertMatch(explain, /GROUP:\s+networking\.k8s\.io/);
    assertMatch(explain, /FIELD:\s+podSelector <LabelSelector>/);
    assertMatch(explain, /pods of the policy's namespace the policy applies/);
    assertMatch(explain, /matchLabels\s+<map\[string\]string>/);
    const portDoc = await ok(
      s,
      "explain",
      "networkpolicy.spec.ingress.ports.port",
    );
    assertMatch(portDoc, /FIELD:\s+port <IntOrString>/);

    // An invalid policy: kubectl shows the server's causes; nothing stored.
    const bad = `${s.tls.dir}/bad.yaml`;
    await Deno.writeTextFile(
      bad,
      POLICY.replace("allow-web", "bad").replace(
        "    ports:\n",
        "    - ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}\n    ports:\n",
      ),
    );
    const refused = await kubectl(s, "apply", "-f", bad);
    assertEquals(refused.code, 1, refused.stdout);
    assertMatch(
      refused.stderr,
      /^The NetworkPolicy "bad" is invalid: /,
    );
    assertMatch(
      refused.stderr,
      /spec\.ingress\[0\]\.from\[1\]\.ipBlock\.except\[0\]: Invalid value: "11\.0\.0\.0\/16": must be a strict subset of `cidr`/,
    );
    assertEquals(
      (await kubectl(s, "get", "netpol", "-n", "team", "bad")).code,
      1,
    );

    assertMatch(
      await ok(s, "delete", "-f", path),
      /networkpolicy\.networking\.k8s\.io "allow-web" deleted/,
    );
    assertMatch(
      (await kubectl(s, "get", "netpol", "-n", "team")).stderr,
      /No resources found in team namespace/,
    );
  },
});
