// Loading a kubeconfig (the subset weft and K3s write, plus what kubectl users
// commonly have): server, CA (file or data), insecure-skip-tls-verify, bearer
// token (inline or file), client certificate and key (file or data).

import { dirname, isAbsolute, join } from "node:path";
import { KubeClient, type KubeClientOptions } from "./client.ts";
import { decodeBase64 } from "../util/encoding.ts";

export class KubeconfigError extends Error {
  override name = "KubeconfigError";
}

type Dict = Record<string, unknown>;

function isDict(v: unknown): v is Dict {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function named(doc: Dict, list: string, name: string, field: string): Dict {
  const items = Array.isArray(doc[list]) ? doc[list] as unknown[] : [];
  const hit = items.find((i) => isDict(i) && i.name === name);
  if (!isDict(hit) || !isDict(hit[field])) {
    throw new KubeconfigError(
      `no ${list.slice(0, -1)} named ${JSON.stringify(name)}`,
    );
  }
  return hit[field] as Dict;
}

function str(d: Dict, key: string): string | undefined {
  const v = d[key];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** A kubeconfig *-data field (base64, maybe wrapped) as text. */
function decodeBase64Text(text: string): string {
  return new TextDecoder().decode(decodeBase64(text.replace(/\s+/g, "")));
}

/** Client options from kubeconfig text; relative file paths resolve against `baseDir`. */
export async function kubeconfigOptions(
  text: string,
  baseDir: string,
  context?: string,
): Promise<KubeClientOptions> {
  // YAML is loaded when a kubeconfig is read, not by every user of kube/.
  const { parse } = await import("@std/yaml");
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new KubeconfigError(
      `invalid kubeconfig YAML: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (!isDict(doc)) {
    throw new KubeconfigError("the kubeconfig is not a YAML mapping");
  }
  const ctxName = context ?? str(doc, "current-context");
  if (!ctxName) {
    throw new KubeconfigError("the kubeconfig has no current-context");
  }
  const ctx = named(doc, "contexts", ctxName, "context");
  const cluster = named(doc, "clusters", str(ctx, "cluster") ?? "", "cluster");
  const user = str(ctx, "user")
    ? named(doc, "users", str(ctx, "user")!, "user")
    : {};
  const file = (p: string) =>
    Deno.readTextFile(isAbsolute(p) ? p : join(baseDir, p));
  const server = str(cluster, "server");
  if (!server) {
    throw new KubeconfigError(
      `cluster of context ${JSON.stringify(ctxName)} has no server`,
    );
  }
  const opts: KubeClientOptions = { server };
  const caData = str(cluster, "certificate-authority-data");
  const caFile = str(cluster, "certificate-authority");
  if (caData) opts.caPem = decodeBase64Text(caData);
  else if (caFile) opts.caPem = await file(caFile);
  if (cluster["insecure-skip-tls-verify"] === true) {
    opts.insecureSkipTlsVerify = true;
  }
  const token = str(user, "token");
  const tokenFile = str(user, "tokenFile") ?? str(user, "token-file");
  if (token) opts.token = token;
  else if (tokenFile) opts.token = (await file(tokenFile)).trim();
  const certPem = str(user, "client-certificate-data")
    ? decodeBase64Text(str(user, "client-certificate-data")!)
    : str(user, "client-certificate") &&
      await file(str(user, "client-certificate")!);
  const keyPem = str(user, "client-key-data")
    ? decodeBase64Text(str(user, "client-key-data")!)
    : str(user, "client-key") && await file(str(user, "client-key")!);
  if (certPem && keyPem) opts.clientCert = { certPem, keyPem };
  return opts;
}

/** A client for the kubeconfig at `path` (its current context by default). */
export async function fromKubeconfig(
  path: string,
  context?: string,
): Promise<KubeClient> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new KubeconfigError(
      `cannot read kubeconfig ${path}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return new KubeClient(await kubeconfigOptions(text, dirname(path), context));
}
