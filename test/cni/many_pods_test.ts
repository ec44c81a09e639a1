// 200 concurrent ADDs of the K3s chain (flannel -> bridge/host-local ->
// portmap) in 200 namespaces through weft's runtime: 200 distinct IPs, and
// after DEL of all no IP files, veths, saved configs or portmap rules left.

import { assert, assertEquals } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { veths } from "../harness/cni_ns.ts";
import { filesIn, ipFiles, writeK3sConflist } from "./_helpers.ts";

const MANY = new URL("./_cni_many.ts", import.meta.url).pathname;
const PODS = 200;

Deno.test(`${PODS} concurrent ADDs in ${PODS} namespaces give distinct IPs; DEL of all leaves nothing`, async () => {
  await using host = await Netns.create("manyhost");
  const pods: Netns[] = [];
  const dir = await Deno.makeTempDir({ prefix: "weft-many-" });
  try {
    for (let i = 0; i < PODS; i++) pods.push(await Netns.create(`p${i}`));
    const conflist = writeK3sConflist(dir, "net.conflist", "10.42.8.1/24", [
      { type: "portmap", capabilities: { portMappings: true } },
    ]);
    const run = (verb: string) =>
      host.run([
        Deno.execPath(),
        "run",
        "-A",
        MANY,
        verb,
        conflist,
        `${dir}/cache`,
        ...pods.map((p) => p.path),
      ]);
    const add = await run("add");
    assertEquals(add.code, 0, add.stderr);
    const ips: string[] = JSON.parse(add.stdout);
    assertEquals(new Set(ips).size, PODS);
    assertEquals((await veths(host)).length, PODS);
    assertEquals(ipFiles(`${dir}/ipam/cbr0`).length, PODS);

    const del = await run("del");
    assertEquals(del.code, 0, del.stderr);
    assertEquals(ipFiles(`${dir}/ipam/cbr0`), []);
    assertEquals(filesIn(`${dir}/flannel`), []);
    assertEquals(filesIn(`${dir}/cache/results`), []);
    assertEquals(
      await veths(host),
      [],
    );
    const nat = await host.sh("iptables-save", "-t", "nat");
    assert(!/CNI-DN-/.test(nat), nat);
    assert(!nat.includes("10.42.8."), nat);
  } finally {
    for (const p of pods) await p[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});
