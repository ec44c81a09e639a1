// `weft server` on etcd as real processes in a namespace: start faults are
// one line and a non-zero exit; a second server with the cluster's token
// serves the same CA; losing etcd while running gives Kubernetes Statuses
// (503/504) while the process stays up, and it recovers by itself.

import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { EtcdCluster, haveEtcd } from "../harness/etcd.ts";
import { Netns } from "../harness/netns.ts";
import { weftArgv } from "../harness/weft.ts";

function serverArgs(dir: string, port: number, extra: string[]): string[] {
  return weftArgv(
    "server",
    "--disable-agent",
    "--data-dir",
    dir,
    "--write-kubeconfig",
    `${dir}/weft.yaml`,
    "--https-listen-port",
    String(port),
    "--node-ip",
    "127.0.0.1",
    "--node-name",
    `s${port}`,
    ...extra,
  );
}

Deno.test({
  name:
    "weft server on etcd: start faults are one line, a second server shares the CA, etcd loss is a 503 and heals",
  ignore: !haveEtcd(),
  fn: async () => {
    await using ns = await Netns.create("etcd");
    await using etcd = await EtcdCluster.start({
      prefix: () => ["ip", "netns", "exec", ns.name],
    });
    const dir = await Deno.makeTempDir({ prefix: "weft-server-etcd-" });
    const children: Deno.ChildProcess[] = [];
    const start = (d: string, port: number, extra: string[]) => {
      const c = new Deno.Command("ip", {
        args: ["netns", "exec", ns.name, ...serverArgs(d, port, extra)],
        env: { WEFT_CONFIG_FILE: "" },
        stdout: "null",
        stderr: "piped",
      }).spawn();
      children.push(c);
      return c;
    };
    const once = async (d: string, extra: string[]) => {
      const out = await new Deno.Command("ip", {
        args: ["netns", "exec", ns.name, ...serverArgs(d, 7443, extra)],
        env: { WEFT_CONFIG_FILE: "" },
        stdout: "null",
        stderr: "piped",
      }).output();
      return { code: out.code, err: new TextDecoder().decode(out.stderr) };
    };
    const kubectl = (d: string, port: number, ...args: string[]) =>
      ns.run([
        "kubectl",
        "--kubeconfig",
        `${d}/weft.yaml`,
        "--server",
        `https://127.0.0.1:${port}`,
        "--request-timeout=20s",
        ...args,
      ]);
    const healthy = async (d: string, port: number) => {
      for (let i = 0; i < 120; i++) {
        if ((await kubectl(d, port, "get", "--raw", "/healthz")).code === 0) {
          return true;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      return false;
    };
    try {
      const ep = ["--datastore-endpoint", etcd.endpoint];
      // Faults at start: one line each, exit non-zero.
      const noToken = await once(`${dir}/x`, ep);
      assertEquals(noToken.code, 1);
      assertStringIncludes(noToken.err, "needs --token");
      assertEquals(noToken.err.trim().split("\n").length, 1, noToken.err);
      const down = await once(`${dir}/x`, [
        "--token",
        "t",
        "--datastore-endpoint",
        "http://127.0.0.1:1",
      ]);
      assertEquals(down.code, 1);
      assertStringIncludes(down.err, "cannot reach etcd at http://127.0.0.1:1");
      assertEquals(down.err.trim().split("\n").length, 1, down.err);

      const s1 = `${dir}/s1`;
      const s2 = `${dir}/s2`;
      start(s1, 7444, ["--token", "cluster-secret", ...ep]);
      assert(await healthy(s1, 7444), "server 1 answers");
      const wrong = await once(`${dir}/w`, ["--token", "other", ...ep]);
      assertEquals(wrong.code, 1);
      assertStringIncludes(wrong.err, "bootstrap data for a different token");
      assertEquals(wrong.err.trim().split("\n").length, 1, wrong.err);

      start(s2, 7445, ["--token", "cluster-secret", ...ep]);
      assert(await healthy(s2, 7445), "server 2 answers");
      assertEquals(
        await Deno.readTextFile(`${s2}/server/tls/server-ca.crt`),
        await Deno.readTextFile(`${s1}/server/tls/server-ca.crt`),
      );
      // Server 1's kubeconfig works on server 2.
      const nodes = await kubectl(s1, 7445, "get", "nodes");
      assertEquals(nodes.code, 0, nodes.stderr);

      // Server 2 killed and started again: same CA, its kubeconfig works.
      const ca = await Deno.readTextFile(`${s2}/server/tls/server-ca.crt`);
      children[1].kill("SIGKILL");
      await children[1].status;
      start(s2, 7445, ["--token", "cluster-secret", ...ep]);
      assert(await healthy(s2, 7445), "server 2 answers after a restart");
      assertEquals(
        await Deno.readTextFile(`${s2}/server/tls/server-ca.crt`),
        ca,
      );

      // etcd gone: a Status 503/504, the process stays up; back: it heals.
      await etcd.kill(0);
      const lost = await kubectl(s1, 7444, "get", "nodes");
      assert(lost.code !== 0);
      assert(
        /ServiceUnavailable|Timeout|unavailable|did not answer/i.test(
          lost.stderr,
        ),
        lost.stderr,
      );
      await etcd.restart(0);
      let back = false;
      for (let i = 0; i < 60 && !back; i++) {
        back = (await kubectl(s1, 7444, "get", "nodes")).code === 0;
        if (!back) await new Promise((r) => setTimeout(r, 500));
      }
      assert(back, "the server answers again once etcd is back");
    } finally {
      for (const c of children) {
        try {
          c.kill("SIGKILL");
        } catch {
          // already gone
        }
        await c.stderr.cancel().catch(() => {});
        await c.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
