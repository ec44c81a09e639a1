// 200 concurrent ADDs of the K3s chain (flannel -> bridge/host-local ->
// portmap) in 200 namespaces through weft's runtime: 200 distinct IPs, and
// after DEL of all no IP files, veths, saved configs or portmap rules left.

import { assert, assertEquals } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { filesIn } from "./_helpers.ts";

const MANY = new URL("./_cni_many.ts", import.meta.url).pathname;
const PODS = 200;

Deno.test(`${PODS} concurrent ADDs in ${PODS} namespaces give distinct IPs; DEL of all leaves nothing`, async () => {
  await using host = await Netns.create("manyhost");
  const pods: Netns[] = [];
  const dir = await Deno.makeTempDir({ prefix: "weft-many-" });
  try {
    for (let i = 0; i < PODS; i++) pods.push(await Netns.create(`p${i}`));
    Deno.writeTextFileSync(
      `${dir}/subnet.env`,
      "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.8.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    Deno.writeTextFileSync(
      `${dir}/net.conflist`,
      JSON.stringify({
        name: "cbr0",
        cniVersion: "1.0.0",
        plugins: [
          {
            type: "flannel",
            subnetFile: `${dir}/subnet.env`,
            dataDir: `${dir}/flannel`,
            ipam: { dataDir: `${dir}/ipam` },
            delegate: {
              hairpinMode: true,
              forceAddress: true,
              isDefaultGateway: true,
            },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      }),
    );
    const run = (verb: string) =>
      host.run([
        Deno.execPath(),
        "run",
        "-A",
        MANY,
        verb,
        `${dir}/net.conflist`,
        `${dir}/cache`,
        ...pods.map((p) => p.path),
      ]);
    const add = await run("add");
    assertEquals(add.code, 0, add.stderr);
    const ips: string[] = JSON.parse(add.stdout);
    assertEquals(new Set(ips).size, PODS);
    const veths = await host.json<unknown[]>(
      "ip",
      "-j",
      "link",
      "show",
      "type",
      "veth",
    );
    assertEquals(veths.length, PODS);
    const ipFiles = () =>
      filesIn(`${dir}/ipam/cbr0`).filter((n) => /^\d/.test(n));
    assertEquals(ipFiles().length, PODS);

    const del = await run("del");
    assertEquals(del.code, 0, del.stderr);
    assertEquals(ipFiles(), []);
    assertEquals(filesIn(`${dir}/flannel`), []);
    assertEquals(filesIn(`${dir}/cache/results`), []);
    assertEquals(
      await host.json<unknown[]>("ip", "-j", "link", "show", "type", "veth"),
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
