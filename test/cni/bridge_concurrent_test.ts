// Many pods starting at once: concurrent bridge+host-local ADDs (each its
// own plugin process, as a runtime starts them) into one host namespace,
// then concurrent DELs. WEFT_CONCURRENT_ADDS overrides the count (200).

import { assert, assertEquals } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { cniRun, natRules, okJson, veths } from "../harness/cni_ns.ts";

const COUNT = Number(Deno.env.get("WEFT_CONCURRENT_ADDS") ?? "200");

Deno.test(`bridge: ${COUNT} concurrent ADDs get distinct IPs; DEL of all leaves nothing`, async () => {
  await using host = await Netns.create("cch");
  const dir = await Deno.makeTempDir({ prefix: "weft-t-concurrent-" });
  const conts: Netns[] = [];
  try {
    for (let i = 0; i < COUNT; i++) conts.push(await Netns.create(`cc${i}`));
    const conf = {
      cniVersion: "1.0.0",
      name: "podnet",
      type: "bridge",
      bridge: "cni0",
      isGateway: true,
      ipMasq: true,
      ipam: { type: "host-local", subnet: "10.30.0.0/16", dataDir: dir },
    };
    const call = (i: number, command: string) => ({
      impl: "weft" as const,
      plugin: "bridge",
      command,
      containerId: `pod-${i}`,
      netns: conts[i].path,
      ifname: "eth0",
      config: conf,
    });
    const results = await Promise.all(
      conts.map(async (_, i) =>
        okJson<{ ips: { address: string }[] }>(
          await cniRun(host, call(i, "ADD")),
        )
      ),
    );
    const ips = new Set(results.map((r) => r.ips[0].address));
    assertEquals(ips.size, COUNT);
    assert(!ips.has("10.30.0.1/16"), "the gateway is never handed out");
    assertEquals((await veths(host)).length, COUNT);
    const chains = (await natRules(host)).filter((l) => /^:CNI-/.test(l));
    assertEquals(chains.length, COUNT);
    const baddr = await host.json<{ addr_info: { local: string }[] }[]>(
      "ip",
      "-j",
      "-4",
      "addr",
      "show",
      "cni0",
    );
    assertEquals(baddr[0].addr_info.map((a) => a.local), ["10.30.0.1"]);

    const dels = await Promise.all(
      conts.map((_, i) => cniRun(host, call(i, "DEL"))),
    );
    for (const d of dels) assertEquals(d.code, 0, d.stdout + d.stderr);
    const files = [...Deno.readDirSync(`${dir}/podnet`)].map((e) => e.name)
      .filter((n) => /^\d/.test(n));
    assertEquals(files, []);
    assertEquals(
      await veths(host),
      [],
    );
    assertEquals((await natRules(host)).filter((l) => l.includes("CNI-")), []);
  } finally {
    for (const c of conts) await c[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});
