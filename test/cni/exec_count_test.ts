// How many netfilter processes a pod operation starts, counted with a PATH
// shim: every iptables*/ip6tables*/nft/conntrack name on PATH logs its
// command line and runs the real tool. weft's flannel (one-plugin conflist)
// is exec'd as a runtime execs it, inside a test "host" namespace.
//
//   the usual pod (no port mappings, no masquerade)  0 netfilter execs
//   with a port mapping (iptables)                   1 per family, per ADD
//                                                    and per DEL (the first
//                                                    container of a host also
//                                                    builds the shared chains)
//   with a port mapping (nftables)                   1 for ADD (all families);
//                                                    DEL lists, then 1

import { assert, assertEquals } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { runCleanEnv, weftAs } from "../harness/cni_ns.ts";

const TOOLS = [
  "iptables",
  "iptables-save",
  "iptables-restore",
  "ip6tables",
  "ip6tables-save",
  "ip6tables-restore",
  "iptables-legacy",
  "iptables-nft",
  "nft",
  "conntrack",
];

const SUBNET_ENV = `FLANNEL_NETWORK=10.42.0.0/16
FLANNEL_SUBNET=10.42.3.1/24
FLANNEL_IPV6_NETWORK=fd42::/56
FLANNEL_IPV6_SUBNET=fd42:0:0:3::1/64
FLANNEL_MTU=1450
FLANNEL_IPMASQ=true
`;

interface World extends AsyncDisposable {
  host: Netns;
  dir: string;
  /** Runs flannel exec'd; returns its parsed stdout. */
  flannel(
    verb: string,
    pod: Netns,
    cid: string,
    runtimeConfig?: Record<string, unknown>,
    prevResult?: unknown,
  ): Promise<Record<string, unknown>>;
  /** The netfilter commands logged since the last call. */
  execs(): string[];
}

async function shimDir(dir: string, log: string): Promise<string> {
  const shims = `${dir}/shims`;
  await Deno.mkdir(shims);
  const path = Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin";
  for (const tool of TOOLS) {
    const real = path.split(":").map((d) => `${d}/${tool}`).find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
    if (!real) continue;
    await Deno.writeTextFile(
      `${shims}/${tool}`,
      `#!/bin/sh\necho "${tool} $*" >> '${log}'\nexec '${real}' "$@"\n`,
      { mode: 0o755 },
    );
  }
  return `${shims}:${path}`;
}

async function world(
  dual = false,
  portmap: Record<string, unknown> = {},
): Promise<World> {
  const host = await Netns.create("exh");
  const dir = await Deno.makeTempDir({ prefix: "weft-execs-" });
  const log = `${dir}/execs.log`;
  const path = await shimDir(dir, log);
  let env = SUBNET_ENV;
  if (!dual) env = env.replace(/^FLANNEL_IPV6.*\n/gm, "");
  Deno.writeTextFileSync(`${dir}/subnet.env`, env);
  Deno.writeTextFileSync(log, "");
  const conf = {
    cniVersion: "1.0.0",
    name: "cbr0",
    type: "flannel",
    capabilities: { portMappings: true, bandwidth: true },
    portmap,
    subnetFile: `${dir}/subnet.env`,
    dataDir: `${dir}/flannel`,
    ipam: { dataDir: `${dir}/ipam` },
    delegate: { hairpinMode: true, forceAddress: true, isDefaultGateway: true },
  };
  let seen = 0;
  return {
    host,
    dir,
    async flannel(verb, pod, cid, runtimeConfig, prevResult) {
      const stdin: Record<string, unknown> = { ...conf };
      if (runtimeConfig) stdin.runtimeConfig = runtimeConfig;
      if (prevResult) stdin.prevResult = prevResult;
      const r = await runCleanEnv(
        ["ip", "netns", "exec", host.name, ...weftAs("flannel")],
        {
          PATH: path,
          HOME: Deno.env.get("HOME") ?? "/root",
          CNI_COMMAND: verb,
          CNI_CONTAINERID: cid,
          CNI_NETNS: pod.path,
          CNI_IFNAME: "eth0",
          CNI_PATH: "/nonexistent",
        },
        JSON.stringify(stdin),
      );
      assertEquals(r.code, 0, `${verb} ${cid}: ${r.stdout}${r.stderr}`);
      return r.stdout.trim() ? JSON.parse(r.stdout) : {};
    },
    execs() {
      const lines = Deno.readTextFileSync(log).split("\n").filter((l) => l);
      const out = lines.slice(seen);
      seen = lines.length;
      return out;
    },
    async [Symbol.asyncDispose]() {
      await host[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const tool = (line: string) => line.split(" ")[0];

Deno.test("the usual pod (no port mappings, no masquerade): ADD, CHECK and DEL start no netfilter process", async () => {
  await using w = await world();
  await using pod = await Netns.create("exp");
  // CRI passes an empty list for a pod without host ports.
  for (const rc of [undefined, { portMappings: [] }]) {
    const result = await w.flannel("ADD", pod, "usual", rc);
    assert((result.ips as unknown[]).length === 1, JSON.stringify(result));
    await w.flannel("CHECK", pod, "usual", rc, result);
    await w.flannel("DEL", pod, "usual", rc, result);
    assertEquals(w.execs(), [], JSON.stringify(rc));
  }
  // The shim does log: a pod with a port mapping shows up.
  await w.flannel("ADD", pod, "mapped", {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
  });
  assert(w.execs().length > 0, "the shim logged nothing");
});

Deno.test("a pod with a port mapping: one iptables-restore per family for ADD and for DEL", async () => {
  await using w = await world(true);
  await using podA = await Netns.create("expa");
  await using podB = await Netns.create("expb");
  const rc = {
    portMappings: [
      { hostPort: 8080, containerPort: 80, protocol: "tcp" },
      { hostPort: 8443, containerPort: 443, protocol: "tcp" },
    ],
  };
  // The first container builds the shared chains (a failed fast restore,
  // then save + restore per family).
  const a = await w.flannel("ADD", podA, "pod-a", rc);
  const first = w.execs();
  assert(first.length <= 6, first.join("\n"));
  assert(
    first.every((l) => /^ip6?tables-(restore|save) /.test(l)),
    first.join("\n"),
  );

  const b = await w.flannel("ADD", podB, "pod-b", rc);
  assertEquals(w.execs().map(tool), ["iptables-restore", "ip6tables-restore"]);
  const nat4 = await w.host.sh("iptables-save", "-t", "nat");
  const nat6 = await w.host.sh("ip6tables-save", "-t", "nat");
  const ipsB = (b.ips as { address: string }[]).map((i) => i.address);
  assert(nat4.includes(`--to-destination ${ipsB[0].split("/")[0]}:80`), nat4);
  assert(nat6.includes("--to-destination [fd42:0:0:3::"), nat6);

  await w.flannel("DEL", podB, "pod-b", rc, b);
  assertEquals(w.execs().map(tool), ["iptables-restore", "ip6tables-restore"]);
  await w.flannel("DEL", podA, "pod-a", rc, a);
  assertEquals(w.execs().map(tool), ["iptables-restore", "ip6tables-restore"]);
  for (const bin of ["iptables-save", "ip6tables-save"]) {
    const nat = await w.host.sh(bin, "-t", "nat");
    assert(!nat.includes(":CNI-DN-"), nat);
    // The shared chains and their entry rules stay, as the reference's do.
    assert(nat.includes("-j CNI-HOSTPORT-DNAT"), nat);
  }
  // A repeated DEL (already gone) falls back to reading: still no rule exec.
  await w.flannel("DEL", podA, "pod-a", rc, a);
  const again = w.execs();
  assert(
    again.every((l) => /^ip6?tables-(restore|save) /.test(l)),
    again.join("\n"),
  );
});

Deno.test("a flushed nat table is rebuilt by the next port-mapped ADD", async () => {
  await using w = await world();
  await using podA = await Netns.create("exfa");
  await using podB = await Netns.create("exfb");
  const rc = {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
  };
  await w.flannel("ADD", podA, "pod-a", rc);
  await w.host.sh("iptables", "-t", "nat", "-F", "PREROUTING");
  w.execs();
  await w.flannel("ADD", podB, "pod-b", rc);
  assertEquals(w.execs().map(tool), [
    "iptables-restore",
    "iptables-save",
    "iptables-restore",
  ]);
  const nat = await w.host.sh("iptables-save", "-t", "nat");
  assert(
    nat.includes(
      "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
    ),
    nat,
  );
  assertEquals(nat.match(/-j CNI-HOSTPORT-MASQ/g)?.length, 1, nat);
});

Deno.test("nftables backend: one nft -f for ADD; DEL lists the ruleset, then one nft -f", async () => {
  await using w = await world(true, { backend: "nftables" });
  await using pod = await Netns.create("exn");
  const rc = {
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
  };
  const r = await w.flannel("ADD", pod, "pod-n", rc);
  assertEquals(w.execs(), ["nft -f -"]);
  const rules = await w.host.sh("nft", "list", "ruleset");
  assert(rules.includes("dnat to 10.42.3.2:80"), rules);
  assert(rules.includes("dnat to [fd42:0:0:3::2]:80"), rules);
  await w.flannel("DEL", pod, "pod-n", rc, r);
  assertEquals(w.execs(), ["nft -j list ruleset", "nft -f -"]);
  const after = await w.host.sh("nft", "list", "ruleset");
  assert(!after.includes("dnat to"), after);
});

Deno.test("two first port-mapped ADDs at once (both build the shared chains) both keep their rules", async () => {
  await using w = await world();
  const pods = await Promise.all(
    [0, 1, 2].map((i) => Netns.create(`exr${i}`)),
  );
  try {
    const rc = (port: number) => ({
      portMappings: [{ hostPort: port, containerPort: 80, protocol: "tcp" }],
    });
    await Promise.all(
      pods.map((p, i) => w.flannel("ADD", p, `race-${i}`, rc(8080 + i))),
    );
    const nat = await w.host.sh("iptables-save", "-t", "nat");
    for (const i of [0, 1, 2]) {
      assert(nat.includes(`id: \\"race-${i}\\"`), nat);
    }
    assertEquals(nat.match(/^:CNI-HOSTPORT-DNAT /gm)?.length, 1, nat);
  } finally {
    for (const p of pods) await p[Symbol.asyncDispose]();
  }
});
