import { assertEquals, assertRejects } from "@std/assert";
import { parse } from "@std/yaml";
import { writeEgressSelectorConfig } from "../../src/tunnel/mod.ts";

Deno.test("writeEgressSelectorConfig: HTTPConnect to the supervisor, Direct when disabled", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-egress-" });
  try {
    const path = await writeEgressSelectorConfig(dir, "pod", 6443);
    assertEquals(path, `${dir}/server/etc/egress-selector-config.yaml`);
    const tls = `${dir}/server/tls`;
    assertEquals(parse(await Deno.readTextFile(path)), {
      apiVersion: "apiserver.k8s.io/v1beta1",
      kind: "EgressSelectorConfiguration",
      egressSelections: [{
        name: "cluster",
        connection: {
          proxyProtocol: "HTTPConnect",
          transport: {
            tcp: {
              url: "https://127.0.0.1:6443",
              tlsConfig: {
                caBundle: `${tls}/server-ca.crt`,
                clientKey: `${tls}/client-kube-apiserver.key`,
                clientCert: `${tls}/client-kube-apiserver.crt`,
              },
            },
          },
        },
      }],
    });
    await writeEgressSelectorConfig(dir, "disabled", 6443);
    assertEquals(parse(await Deno.readTextFile(path)), {
      apiVersion: "apiserver.k8s.io/v1beta1",
      kind: "EgressSelectorConfiguration",
      egressSelections: [{
        name: "cluster",
        connection: { proxyProtocol: "Direct" },
      }],
    });
    await assertRejects(
      () => writeEgressSelectorConfig(dir, "bogus" as "pod", 6443),
      TypeError,
      'bad egress selector mode "bogus"',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
