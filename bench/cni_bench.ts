// CNI bench: ADD then DEL of the K3s chain (flannel -> bridge + host-local,
// then portmap with one port mapping) for one pod, in a test "host" netns.
//
//   reference      Debian's /usr/lib/cni bridge (+ host-local) and portmap,
//                  each exec'd by a libcni-like runtime (no reference flannel
//                  plugin is packaged; bridge gets the config flannel renders)
//   weft exec'd    weft's flannel and portmap exec'd by the same runtime
//                  through the installer's wrappers (exec -a <name> deno run
//                  main.ts); deno startup is in every call, as on a node
//                  running from source
//   weft runtime   weft's runtime running the chain in process (weft cni)
//
// Contenders alternate per iteration. Prints p50/p99 of ADD, DEL and both,
// and the ratios. WEFT_BENCH_N sets the iterations (default 40).

import { Netns } from "../test/harness/netns.ts";
import { CniRuntime, parseConfList } from "../src/cni/runtime/mod.ts";
import type { RuntimeConf } from "../src/cni/runtime/mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const fmt = (ms: number) => ms.toFixed(1).padStart(7);

async function outer(): Promise<void> {
  await using host = await Netns.create("benchhost");
  await using pod = await Netns.create("benchpod");
  const dir = await Deno.makeTempDir({ prefix: "weft-cnibench-" });
  try {
    const out = await new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        host.name,
        Deno.execPath(),
        "run",
        "-A",
        SELF,
        "--inner",
        pod.path,
        dir,
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (out.code !== 0) {
      throw new Error(`bench inside ${host.name} exited ${out.code}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface Contender {
  label: string;
  runtime: CniRuntime;
  list: ReturnType<typeof parseConfList>;
  add: number[];
  del: number[];
}

function conflist(obj: unknown) {
  return parseConfList(new TextEncoder().encode(JSON.stringify(obj)));
}

async function inner(podPath: string, dir: string): Promise<void> {
  const n = Number(Deno.env.get("WEFT_BENCH_N") ?? 40);
  const warmup = 3;
  Deno.writeTextFileSync(
    `${dir}/subnet.env`,
    "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
  Deno.mkdirSync(`${dir}/wrappers`);
  for (const name of ["flannel", "portmap"]) {
    Deno.writeTextFileSync(
      `${dir}/wrappers/${name}`,
      `#!/bin/bash\nexec -a ${name} "${Deno.execPath()}" run -A "${MAIN}"\n`,
      { mode: 0o755 },
    );
  }
  const portmap = { type: "portmap", capabilities: { portMappings: true } };
  const weftList = conflist({
    name: "cbr0",
    cniVersion: "1.0.0",
    plugins: [
      {
        type: "flannel",
        subnetFile: `${dir}/subnet.env`,
        dataDir: `${dir}/flannel`,
        ipam: { dataDir: `${dir}/ipam-weft` },
        delegate: {
          hairpinMode: true,
          forceAddress: true,
          isDefaultGateway: true,
        },
      },
      portmap,
    ],
  });
  // What flannel renders for bridge, handed to the reference bridge directly.
  const refList = conflist({
    name: "cbr0",
    cniVersion: "1.0.0",
    plugins: [
      {
        type: "bridge",
        bridge: "cni1",
        hairpinMode: true,
        forceAddress: true,
        isDefaultGateway: true,
        isGateway: true,
        ipMasq: false,
        mtu: 1450,
        ipam: {
          type: "host-local",
          dataDir: `${dir}/ipam-ref`,
          ranges: [[{ subnet: "10.42.5.0/24" }]],
          routes: [{ dst: "10.42.0.0/16" }],
        },
      },
      portmap,
    ],
  });
  const quiet = () => {};
  const contenders: Contender[] = [
    {
      label: "reference exec'd (bridge+host-local, portmap)",
      runtime: new CniRuntime({
        inProcess: false,
        binDirs: ["/usr/lib/cni"],
        cacheDir: `${dir}/cache-ref`,
        log: quiet,
      }),
      list: refList,
      add: [],
      del: [],
    },
    {
      label: "weft exec'd (flannel->bridge+host-local, portmap)",
      runtime: new CniRuntime({
        inProcess: false,
        binDirs: [`${dir}/wrappers`],
        cacheDir: `${dir}/cache-wx`,
        log: quiet,
      }),
      list: weftList,
      add: [],
      del: [],
    },
    {
      label: "weft runtime in process (same chain)",
      runtime: new CniRuntime({ cacheDir: `${dir}/cache-wi`, log: quiet }),
      list: weftList,
      add: [],
      del: [],
    },
  ];
  const rt: RuntimeConf = {
    containerId: "benchpod",
    netns: podPath,
    ifname: "eth0",
    capabilityArgs: {
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    },
  };
  for (let i = 0; i < warmup + n; i++) {
    for (const c of contenders) {
      const t0 = performance.now();
      const result = await c.runtime.add(c.list, rt);
      const t1 = performance.now();
      await c.runtime.del(c.list, rt);
      const t2 = performance.now();
      if (!result.ips?.length) throw new Error(`${c.label}: ADD gave no IP`);
      if (i >= warmup) {
        c.add.push(t1 - t0);
        c.del.push(t2 - t1);
      }
    }
  }
  console.log(
    `K3s chain ADD then DEL, one pod, ${n} iterations (ms, p50 / p99)`,
  );
  for (const c of contenders) {
    const tot = c.add.map((a, i) => a + c.del[i]);
    console.log(
      `  ${c.label.padEnd(52)} ADD ${fmt(pct(c.add, 50))} /${
        fmt(pct(c.add, 99))
      }` +
        `   DEL ${fmt(pct(c.del, 50))} /${fmt(pct(c.del, 99))}` +
        `   ADD+DEL ${fmt(pct(tot, 50))} /${fmt(pct(tot, 99))}`,
    );
  }
  const [ref, wx, wi] = contenders.map((c) =>
    c.add.map((a, i) => a + c.del[i])
  );
  for (
    const [label, xs] of [["weft exec'd", wx], [
      "weft runtime in process",
      wi,
    ]] as const
  ) {
    console.log(
      `  ratio ${label} / reference: p50 ${
        (pct(xs, 50) / pct(ref, 50)).toFixed(2)
      }x, p99 ${(pct(xs, 99) / pct(ref, 99)).toFixed(2)}x`,
    );
  }
  await startup(dir);
}

/** Wall time of starting weft: VERSION as `flannel` vs `weft version`. */
async function startup(dir: string): Promise<void> {
  const time = async (
    cmd: string,
    args: string[],
    env: Record<string, string>,
  ) => {
    const xs: number[] = [];
    for (let i = 0; i < 12; i++) {
      const t0 = performance.now();
      const out = await new Deno.Command(cmd, {
        args,
        env,
        stdout: "null",
        stderr: "null",
      }).output();
      if (out.code !== 0) {
        throw new Error(`${cmd} ${args.join(" ")} exited ${out.code}`);
      }
      if (i >= 2) xs.push(performance.now() - t0);
    }
    return pct(xs, 50);
  };
  const cni = await time(`${dir}/wrappers/flannel`, [], {
    CNI_COMMAND: "VERSION",
  });
  const cli = await time(Deno.execPath(), ["run", "-A", MAIN, "version"], {});
  const ref = await time("/usr/lib/cni/bridge", [], { CNI_COMMAND: "VERSION" });
  console.log(
    `startup p50: flannel CNI_COMMAND=VERSION ${
      cni.toFixed(1)
    } ms, weft version ${cli.toFixed(1)} ms, reference bridge VERSION ${
      ref.toFixed(1)
    } ms`,
  );
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--inner");
  if (i >= 0) await inner(Deno.args[i + 1], Deno.args[i + 2]);
  else await outer();
}
