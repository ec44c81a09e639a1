// The kube-apiserver's EgressSelectorConfiguration, written as K3s does:
// `disabled` -> Direct; other modes -> HTTPConnect to the supervisor port on
// loopback, with the cluster CA and the apiserver's client certificate.

import { stringify } from "@std/yaml";
import { tlsDirOf } from "../tls/mod.ts";
import { checkMode, type EgressMode } from "./target.ts";

/** Writes <data-dir>/server/etc/egress-selector-config.yaml; returns it. */
export async function writeEgressSelectorConfig(
  dataDir: string,
  mode: EgressMode,
  port: number,
): Promise<string> {
  checkMode(mode);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`bad supervisor port ${port}`);
  }
  const tls = tlsDirOf(dataDir);
  const connection = mode === "disabled" ? { proxyProtocol: "Direct" } : {
    proxyProtocol: "HTTPConnect",
    transport: {
      tcp: {
        url: `https://127.0.0.1:${port}`,
        tlsConfig: {
          caBundle: `${tls}/server-ca.crt`,
          clientKey: `${tls}/client-kube-apiserver.key`,
          clientCert: `${tls}/client-kube-apiserver.crt`,
        },
      },
    },
  };
  const doc = {
    apiVersion: "apiserver.k8s.io/v1beta1",
    kind: "EgressSelectorConfiguration",
    egressSelections: [{ name: "cluster", connection }],
  };
  const dir = `${dataDir}/server/etc`;
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/egress-selector-config.yaml`;
  await Deno.writeTextFile(path, stringify(doc));
  return path;
}
