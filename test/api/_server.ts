// A real API server over TLS on 127.0.0.1 (ephemeral port) for tests, with a
// throwaway certificate and the test authenticator.

import {
  type ApiServer,
  type ApiServerOptions,
  createNodeIpam,
  startApiServer,
} from "../../src/api/mod.ts";
import { openSqliteStore, type Store } from "../../src/store/mod.ts";
import { testAuthenticate } from "./_fixture.ts";
import { makeTestCert, type TestCert } from "./_tls.ts";

export interface TestServer {
  server: ApiServer;
  store: Store;
  tls: TestCert;
  url: string;
  client: Deno.HttpClient;
  kubeconfig: string;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function testServer(
  opts: Partial<ApiServerOptions> & { setup?: (s: Store) => Promise<void> } =
    {},
): Promise<TestServer> {
  const tls = await makeTestCert();
  const store = openSqliteStore(`${tls.dir}/state.db`);
  await opts.setup?.(store);
  const server = await startApiServer({
    store,
    ipam: createNodeIpam(store, { clusterCidrs: "10.42.0.0/16" }),
    authenticate: testAuthenticate,
    cert: tls.cert,
    key: tls.key,
    port: 0,
    hostname: "127.0.0.1",
    ...opts,
  });
  const url = `https://127.0.0.1:${server.port}`;
  const kubeconfig = `${tls.dir}/kubeconfig`;
  await Deno.writeTextFile(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: weft",
      "  cluster:",
      `    server: ${url}`,
      `    certificate-authority: ${tls.caPath}`,
      "users:",
      "- name: admin",
      "  user:",
      "    token: admin-token",
      "contexts:",
      "- name: weft",
      "  context: {cluster: weft, user: admin}",
      "current-context: weft",
      "",
    ].join("\n"),
  );
  const client = Deno.createHttpClient({ caCerts: [tls.caPem] });
  return {
    server,
    store,
    tls,
    url,
    client,
    kubeconfig,
    async [Symbol.asyncDispose]() {
      client.close();
      await server.close();
      store.close();
      await Deno.remove(tls.dir, { recursive: true });
    },
  };
}

/** A raw TLS connection to the test server. */
export function dial(s: TestServer): Promise<Deno.TlsConn> {
  return Deno.connectTls({
    hostname: "127.0.0.1",
    port: s.server.port,
    caCerts: [s.tls.caPem],
  });
}

/** Reads until `marker` has arrived (or EOF); all text read. */
export async function readUntil(
  conn: Deno.Conn,
  marker: string,
): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!text.includes(marker)) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

/** Writes all of `text`. */
export async function writeText(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}
