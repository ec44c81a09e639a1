// bandwidth chained after bridge in a test "host" namespace; qdiscs and the
// ifb device read back with `tc -j` and `ip -j`.

import { assert, assertEquals, assertMatch } from "@std/assert";
import type { Netns } from "../harness/netns.ts";
import {
  type BridgedPod,
  bridgedPod,
  type CniCall,
  cniRun,
  okJson,
} from "../harness/cni_ns.ts";

type Res = { interfaces?: { name: string; mac?: string; sandbox?: string }[] };

type World = BridgedPod<Res>;

function world(impl: "weft" | "reference" = "weft"): Promise<World> {
  return bridgedPod<Res>("bw", impl);
}

const LIMITS = {
  ingressRate: 1_000_000,
  ingressBurst: 800_000,
  egressRate: 2_000_000,
  egressBurst: 1_600_000,
};

function bwConf(prev: Res, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: "1.0.0",
    name: "mynet",
    type: "bandwidth",
    capabilities: { bandwidth: true },
    runtimeConfig: { bandwidth: LIMITS },
    prevResult: prev,
    ...extra,
  };
}

function bw(
  w: World,
  command: string,
  config: unknown,
  impl: "weft" | "reference" = "weft",
): CniCall {
  return w.call("bandwidth", command, config, impl);
}

interface TcQdisc {
  kind: string;
  dev: string;
  root?: boolean;
  parent?: string;
  options?: Record<string, unknown>;
}

/** Qdiscs with veth names normalized, noqueue ones left out. */
async function qdiscs(ns: Netns) {
  return (await ns.json<TcQdisc[]>("tc", "-j", "qdisc", "show"))
    .filter((q) => q.kind !== "noqueue")
    .map((q) => ({
      kind: q.kind,
      dev: q.dev.replace(/^veth[0-9a-f]{8}$/, "veth*"),
      root: q.root ?? false,
      options: q.options ?? {},
    }))
    .sort((a, b) => (a.dev + a.kind).localeCompare(b.dev + b.kind));
}

Deno.test("bandwidth ADD shapes both directions: tbf on the veth, ifb with redirected ingress", async () => {
  await using w = await world();
  const res = okJson<Res>(await cniRun(w.host, bw(w, "ADD", bwConf(w.prev))));
  const ifb = res.interfaces?.at(-1);
  assertMatch(ifb?.name ?? "", /^bwp[0-9a-f]{12}$/);
  const veth = w.prev.interfaces![1].name;
  const links = await w.host.json<
    { ifname: string; mtu: number; linkinfo?: { info_kind: string } }[]
  >(
    "ip",
    "-j",
    "-d",
    "link",
    "show",
    ifb!.name,
  );
  assertEquals(links[0].linkinfo?.info_kind, "ifb");
  const qs = await qdiscs(w.host);
  const tbfVeth = qs.find((q) => q.dev === "veth*" && q.kind === "tbf");
  const tbfIfb = qs.find((q) => q.dev === ifb!.name && q.kind === "tbf");
  assert(tbfVeth && tbfIfb, JSON.stringify(qs));
  assertEquals(tbfVeth?.options.rate, 125000); // bytes/s
  assertEquals(tbfIfb?.options.rate, 250000);
  assert(qs.some((q) => q.dev === "veth*" && q.kind === "ingress"));
  const filters = await w.host.sh(
    "tc",
    "filter",
    "show",
    "dev",
    veth,
    "ingress",
  );
  assertMatch(
    filters,
    new RegExp(`mirred \\(Egress Redirect to device ${ifb!.name}\\)`),
  );

  assertEquals((await cniRun(w.host, bw(w, "CHECK", bwConf(res)))).code, 0);
  await w.host.sh("tc", "qdisc", "del", "dev", ifb!.name, "root");
  const bad = await cniRun(w.host, bw(w, "CHECK", bwConf(res)));
  assertEquals(bad.code, 1);
  assertMatch(JSON.parse(bad.stdout).msg, /no tbf qdisc/);

  const del = await cniRun(w.host, bw(w, "DEL", bwConf(res)));
  assertEquals(del.code, 0, del.stdout + del.stderr);
  assertEquals(
    await w.host.json("ip", "-j", "link", "show", "type", "ifb"),
    [],
  );
  assertEquals((await cniRun(w.host, bw(w, "DEL", bwConf(res)))).code, 0);
});

Deno.test("bandwidth matches the reference plugin's qdiscs and ifb", async () => {
  const snap = async (impl: "weft" | "reference") => {
    await using w = await world(impl);
    const res = okJson<Res>(
      await cniRun(w.host, bw(w, "ADD", bwConf(w.prev), impl)),
    );
    const ifb = await w.host.json<
      { ifname: string; mtu: number; operstate: string }[]
    >(
      "ip",
      "-j",
      "link",
      "show",
      "type",
      "ifb",
    );
    return {
      qdiscs: await qdiscs(w.host),
      ifb: ifb.map((l) => ({ name: l.ifname, mtu: l.mtu })),
      added: res.interfaces?.slice(3).map((i) => i.name),
    };
  };
  const ref = await snap("reference");
  const weft = await snap("weft");
  assertEquals(ref.ifb.length, 1);
  assertEquals(weft, ref);
});

Deno.test("bandwidth without limits passes prevResult through and creates nothing", async () => {
  await using w = await world();
  const out = okJson<Res>(
    await cniRun(w.host, bw(w, "ADD", bwConf(w.prev, { runtimeConfig: {} }))),
  );
  assertEquals(out, w.prev);
  assertEquals(
    await w.host.json("ip", "-j", "link", "show", "type", "ifb"),
    [],
  );
  assert(!(await qdiscs(w.host)).some((q) => q.kind === "tbf"));
});

Deno.test("bandwidth rejects a rate without a burst and a missing prevResult", async () => {
  await using w = await world();
  const r = await cniRun(
    w.host,
    bw(
      w,
      "ADD",
      bwConf(w.prev, {
        runtimeConfig: { bandwidth: { ingressRate: 1000 } },
      }),
    ),
  );
  assertEquals(r.code, 1);
  assertEquals(JSON.parse(r.stdout).code, 7);
  assertMatch(JSON.parse(r.stdout).msg, /burst must also be set/);
  const n = await cniRun(
    w.host,
    bw(w, "ADD", bwConf(w.prev, { prevResult: undefined })),
  );
  assertEquals(n.code, 1);
  assertMatch(JSON.parse(n.stdout).msg, /must be called as chained plugin/);
  assert(!(await qdiscs(w.host)).some((q) => q.kind === "tbf"));
});
