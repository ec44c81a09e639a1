import { assertEquals, assertRejects } from "@std/assert";
import { KubeconfigError, kubeconfigOptions } from "../../src/kube/mod.ts";

const CA = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

Deno.test("kubeconfigOptions() resolves CA and token files relative to the kubeconfig", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-kcfg-" });
  try {
    await Deno.writeTextFile(`${dir}/ca.crt`, CA);
    await Deno.writeTextFile(`${dir}/token`, "tok\n");
    await Deno.writeTextFile(`${dir}/client.crt`, "CERT");
    await Deno.writeTextFile(`${dir}/client.key`, "KEY");
    const text = `
apiVersion: v1
kind: Config
current-context: prod
contexts:
- name: other
  context: {cluster: nowhere, user: nobody}
- name: prod
  context: {cluster: c1, user: u1}
clusters:
- name: c1
  cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.crt}
users:
- name: u1
  user: {tokenFile: token, client-certificate: client.crt, client-key: client.key}
`;
    assertEquals(await kubeconfigOptions(text, dir), {
      server: "https://10.0.0.1:6443",
      caPem: CA,
      token: "tok",
      clientCert: { certPem: "CERT", keyPem: "KEY" },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kubeconfigOptions() reads insecure-skip-tls-verify and a chosen context", async () => {
  const text = `
current-context: a
contexts:
- {name: a, context: {cluster: ca, user: ua}}
- {name: b, context: {cluster: cb, user: ub}}
clusters:
- {name: ca, cluster: {server: "https://a:6443"}}
- {name: cb, cluster: {server: "https://b:6443", insecure-skip-tls-verify: true}}
users:
- {name: ua, user: {token: ta}}
- {name: ub, user: {token: tb}}
`;
  assertEquals(await kubeconfigOptions(text, "/", "b"), {
    server: "https://b:6443",
    insecureSkipTlsVerify: true,
    token: "tb",
  });
});

Deno.test("kubeconfigOptions() explains what is missing", async () => {
  await assertRejects(
    () => kubeconfigOptions("[]", "/"),
    KubeconfigError,
    "not a YAML mapping",
  );
  await assertRejects(
    () => kubeconfigOptions("kind: Config", "/"),
    KubeconfigError,
    "no current-context",
  );
  await assertRejects(
    () => kubeconfigOptions("current-context: x\ncontexts: []", "/"),
    KubeconfigError,
    `no context named "x"`,
  );
  await assertRejects(
    () =>
      kubeconfigOptions(
        "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\nclusters: [{name: c, cluster: {}}]",
        "/",
      ),
    KubeconfigError,
    "has no server",
  );
});
