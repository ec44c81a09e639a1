// ctr bench: what a container start pays for the network, through a real
// container runtime. A 2-node weft cluster (vxlan; test/flannel/_cluster.ts),
// Debian's containerd + runc on node2 inside the node's namespaces, the
// local busybox image; each sample is one `ctr run --cni -d` of `sleep`
// (wall time of the ctr process), then an untimed stop/delete with the CNI
// DEL ctr -d never runs (each plugin exec'd in reverse, as libcni does).
//
//   no CNI      the same ctr run without --cni (the runtime's own cost)
//   weft        weft's default conflist and plugins, as installed by the agent
//   weft K3s    K3s's three-plugin chain (flannel -> portmap -> bandwidth)
//               through the same weft plugins (for comparison; no ratio)
//   reference   Debian's /usr/lib/cni plugins: bridge (+ host-local) ->
//               portmap -> bandwidth, configured as flannel renders bridge,
//               for the same podCIDR and bridge cni0
//
// Every contender's ctr runs in the same wrapper (a mount namespace binding
// its plugin dir and conflist to /opt/cni/bin and /etc/cni/net.d), rounds
// interleave the three. The network share is a contender's median minus the
// no-CNI median; the ratio is weft's share over the reference's.
// WEFT_BENCH_N sets the samples per contender (default 10).

import { Cluster } from "../test/flannel/_cluster.ts";
import {
  buildBusyboxImage,
  BUSYBOX_IMAGE,
  heldIPs,
  installedConflist,
  K3S_CHAIN_CONFLIST,
  NodeContainerd,
  podCidr,
  readInNode,
  startContainerd,
  WEFT_CNI_BIN,
  WEFT_CNI_CONF_DIR,
} from "../test/harness/containerd.ts";
import { exec } from "../src/cli/exec.ts";

interface Contender {
  label: string;
  cni: boolean;
  binDir: string;
  confDir: string;
  /** The conflist's text (for the DEL). */
  conflist: string;
  samples: number[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The reference chain, as flannel renders bridge for the node. */
function referenceConflist(cidr: string, mtu: number): string {
  return JSON.stringify({
    name: "ref",
    cniVersion: "1.0.0",
    plugins: [
      {
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        isDefaultGateway: true,
        forceAddress: true,
        hairpinMode: true,
        ipMasq: false,
        mtu,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: cidr }]],
          routes: [{ dst: "10.42.0.0/16" }],
        },
      },
      { type: "portmap", capabilities: { portMappings: true } },
      { type: "bandwidth", capabilities: { bandwidth: true } },
    ],
  });
}

/** One timed `ctr run -d`, then its untimed teardown. */
async function sample(
  rt: NodeContainerd,
  c: Contender,
  id: string,
): Promise<number> {
  const run = rt.ctrCmd(
    "run",
    ...(c.cni ? ["--cni"] : []),
    "-d",
    "--null-io",
    BUSYBOX_IMAGE,
    id,
    "sleep",
    "3600",
  );
  const argv = rt.viewArgv({ binDir: c.binDir, confDir: c.confDir }, run);
  const t0 = performance.now();
  const r = await exec(argv);
  const ms = performance.now() - t0;
  if (r.code !== 0) {
    throw new Error(`${c.label}: ctr run -d exited ${r.code}: ${r.stderr}`);
  }
  await rt.ctr("tasks", "kill", "-s", "SIGKILL", id);
  for (let i = 0; i < 100; i++) {
    if ((await rt.ctr("tasks", "delete", id)).code === 0) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  if (c.cni) await cniDel(rt, c, `${rt.namespace}-${id}`);
  const rm = await rt.ctr("containers", "delete", id);
  if (rm.code !== 0) {
    throw new Error(`ctr containers delete ${id}: ${rm.stderr}`);
  }
  return ms;
}

/**
 * CNI DEL as libcni runs it: every plugin in reverse order with the cached
 * result as prevResult, inside the node with the contender's plugin dir;
 * then the cache entry goes.
 */
async function cniDel(
  rt: NodeContainerd,
  c: Contender,
  cniId: string,
): Promise<void> {
  const list = JSON.parse(c.conflist) as {
    name: string;
    cniVersion: string;
    plugins: Record<string, unknown>[];
  };
  const cacheFile = `/var/lib/cni/results/${list.name}-${cniId}-eth0`;
  const cache = rt.path(cacheFile);
  const cached = JSON.parse(await Deno.readTextFile(cache).catch(() => "{}"));
  for (const p of [...list.plugins].reverse()) {
    const conf = {
      ...p,
      name: list.name,
      cniVersion: list.cniVersion,
      ...(cached.result ? { prevResult: cached.result } : {}),
    };
    const r = await exec([
      ...rt.enter,
      "env",
      "CNI_COMMAND=DEL",
      `CNI_CONTAINERID=${cniId}`,
      "CNI_IFNAME=eth0",
      "CNI_NETNS=",
      `CNI_PATH=${c.binDir}`,
      "sh",
      "-c",
      `printf '%s' "$0" | "$1"`,
      JSON.stringify(conf),
      `${c.binDir}/${p.type}`,
    ]);
    if (r.code !== 0) {
      throw new Error(
        `${c.label}: ${p.type} DEL exited ${r.code}: ${r.stdout}`,
      );
    }
  }
  await Deno.remove(cache).catch(() => {});
}

async function main(): Promise<void> {
  const n = Number(Deno.env.get("WEFT_BENCH_N") ?? 10);
  const warmup = 2;
  const work = await Deno.makeTempDir({ prefix: "weft-ctrbench-" });
  let cluster: Cluster | undefined;
  let rt: NodeContainerd | undefined;
  try {
    const image = await buildBusyboxImage(`${work}/image`);
    cluster = await Cluster.start({ nodes: 2 });
    const node = cluster.nodes[1];
    const weftConf = await installedConflist(node);
    const cidr = await podCidr(node);
    const env = await readInNode(node, "/run/flannel/subnet.env");
    const mtu = Number(env.match(/^FLANNEL_MTU=(\d+)/m)?.[1] ?? 1450);
    rt = await startContainerd(node, `${work}/ctrd`, {
      namespace: "weft-bench",
    });
    await rt.importImage(image);
    const refDir = `${work}/ref-net.d`;
    await Deno.mkdir(refDir);
    const refConf = referenceConflist(cidr, mtu);
    await Deno.writeTextFile(`${refDir}/10-ref.conflist`, refConf);
    const k3sDir = `${work}/k3s-net.d`;
    await Deno.mkdir(k3sDir);
    const k3sConf = JSON.stringify(K3S_CHAIN_CONFLIST);
    await Deno.writeTextFile(`${k3sDir}/10-flannel.conflist`, k3sConf);
    const plugins = (s: string) =>
      (JSON.parse(s).plugins as { type: string }[]).map((p) => p.type).join(
        " -> ",
      );
    const contenders: Contender[] = [
      {
        label: "no CNI",
        cni: false,
        binDir: WEFT_CNI_BIN,
        confDir: WEFT_CNI_CONF_DIR,
        conflist: weftConf,
        samples: [],
      },
      {
        label: `weft (${plugins(weftConf)})`,
        cni: true,
        binDir: WEFT_CNI_BIN,
        confDir: WEFT_CNI_CONF_DIR,
        conflist: weftConf,
        samples: [],
      },
      {
        label: `weft K3s chain (${plugins(k3sConf)})`,
        cni: true,
        binDir: WEFT_CNI_BIN,
        confDir: k3sDir,
        conflist: k3sConf,
        samples: [],
      },
      {
        label: `reference (${plugins(refConf)})`,
        cni: true,
        binDir: "/usr/lib/cni",
        confDir: refDir,
        conflist: refConf,
        samples: [],
      },
    ];
    let k = 0;
    for (let i = 0; i < warmup + n; i++) {
      for (const c of contenders) {
        const ms = await sample(rt, c, `b${k++}`);
        if (i >= warmup) c.samples.push(ms);
      }
    }
    for (const net of ["cbr0", "ref"]) {
      const held = await heldIPs(node, net);
      if (held.length) {
        throw new Error(`CNI DEL left IPs held in ${net}: ${held.join(" ")}`);
      }
    }
    console.log(
      `ctr run --cni -d (busybox sleep) on a weft node, podCIDR ${cidr}, ${n} starts each, interleaved (ms)`,
    );
    const base = median(contenders[0].samples);
    for (const c of contenders) {
      const m = median(c.samples);
      console.log(
        `  ${c.label.padEnd(58)} median ${m.toFixed(1).padStart(7)}` +
          (c.cni
            ? `   network share ${(m - base).toFixed(1).padStart(6)}`
            : ""),
      );
    }
    const weft = median(contenders[1].samples) - base;
    const ref = median(contenders[3].samples) - base;
    // A share at or under zero is below the runtime's own run-to-run noise
    // (the medians of ctr run with and without --cni differ by less).
    console.log(
      `  ratio weft / reference (network share): ${
        weft <= 0
          ? "0.00x (weft's share is within the no-CNI noise)"
          : `${(weft / Math.max(ref, 0.1)).toFixed(2)}x`
      }`,
    );
  } finally {
    if (rt) await rt.stop();
    if (cluster) await cluster[Symbol.asyncDispose]();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
