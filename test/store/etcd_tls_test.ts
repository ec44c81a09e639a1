// The etcd store over TLS with client certificates (K3s's
// --datastore-cafile/certfile/keyfile), and the one-line answers when the
// CA or the client certificate is not the one etcd wants.

import { assertEquals, assertRejects } from "@std/assert";
import { openStore, StoreError } from "../../src/store/mod.ts";
import { createCA, issueCert } from "../../src/tls/mod.ts";
import { EtcdCluster, haveEtcd } from "../harness/etcd.ts";

Deno.test({
  name:
    "etcd store over TLS: the right files connect; a wrong CA or client cert is one line",
  ignore: !haveEtcd(),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-etcd-tls-" });
    try {
      const ca = await createCA("etcd-ca");
      const server = await issueCert(ca, {
        subject: { commonName: "etcd" },
        sans: ["127.0.0.1", "localhost"],
        usages: ["serverAuth", "clientAuth"],
      });
      const client = await issueCert(ca, {
        subject: { commonName: "weft" },
        usages: ["clientAuth"],
      });
      const other = await createCA("other-ca");
      const stranger = await issueCert(other, {
        subject: { commonName: "stranger" },
        usages: ["clientAuth"],
      });
      const files: Record<string, string> = {
        "ca.crt": ca.certPem,
        "server.crt": server.certPem,
        "server.key": server.keyPem,
        "client.crt": client.certPem,
        "client.key": client.keyPem,
        "other.crt": other.certPem,
        "stranger.crt": stranger.certPem,
        "stranger.key": stranger.keyPem,
      };
      for (const [f, text] of Object.entries(files)) {
        await Deno.writeTextFile(`${dir}/${f}`, text, { mode: 0o600 });
      }
      await using etcd = await EtcdCluster.start({
        tls: {
          certFile: `${dir}/server.crt`,
          keyFile: `${dir}/server.key`,
          caFile: `${dir}/ca.crt`,
        },
      });
      const opts = (ca: string, cert: string) => ({
        dataDir: dir,
        caFile: `${dir}/${ca}`,
        certFile: `${dir}/${cert}.crt`,
        keyFile: `${dir}/${cert}.key`,
        requestTimeoutMs: 3000,
      });
      {
        using s = await openStore(etcd.endpoint, opts("ca.crt", "client"));
        const e = await s.create("/tls/ok", "1");
        assertEquals((await s.get("/tls/ok"))?.modRevision, e.modRevision);
      }
      for (
        const [caFile, cert] of [["other.crt", "client"], [
          "ca.crt",
          "stranger",
        ]]
      ) {
        const err = await assertRejects(
          () => openStore(etcd.endpoint, opts(caFile, cert)),
          StoreError,
          `cannot reach etcd at ${etcd.endpoint}`,
        );
        assertEquals(err.message.includes("\n"), false, err.message);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
