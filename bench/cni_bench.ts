// CNI bench: a pod's ADD then DEL, exec'd as a container runtime does it
// (libcni-like: one process per conflist entry, result cache, capability
// arguments), in a test "host" namespace, contenders alternating per
// iteration, same run:
//
//   reference      Debian's /usr/lib/cni chain: bridge (+ host-local) ->
//                  portmap -> bandwidth (no reference flannel plugin is
//                  packaged; bridge gets the config flannel renders)
//   weft agent     weft's default conflist: one plugin, flannel, applying
//                  portMappings and bandwidth in process — exec'd through
//                  the installer's native launcher (x86_64, aarch64), which hands
//                  the operation to the agent's CNI socket (served here by
//                  an agent-like child process, test/cni/_cni_server.ts)
//   weft fallback  the same with no agent: the launcher execs deno on the
//                  bundled entry, which runs the plugin in its own process
//   weft thin      the same, agent serving, through the /bin/sh wrappers
//                  and Deno thin client installed where no launcher exists
//   weft k3s chain weft's plugins in K3s's chain (--cni-chain k3s), exec'd,
//                  agent serving
//   weft in proc   weft's runtime running the default conflist in process
//
// Two pods: the usual one (no host port: what `ctr run --cni` and most pods
// ask) and one with a host port. Then the start breakdown: an empty Deno
// start, a plugin answering VERSION through each wrapper form measured
// (which `deno run` options matter), and a plugin ADD.
// WEFT_BENCH_N sets the iterations (default 30).

import { Netns } from "../test/harness/netns.ts";
import { CniRuntime, parseConfList } from "../src/cni/runtime/mod.ts";
import type { RuntimeConf } from "../src/cni/runtime/mod.ts";
import { installPlugins } from "../src/cli/cni_install.ts";
import { CNI_SOCKET_ENV } from "../src/cni/socket.ts";
import { startServer } from "../test/cni/_agent_server.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SELF = new URL(import.meta.url).pathname;
const REF = "/usr/lib/cni";

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const fmt = (ms: number) => ms.toFixed(1).padStart(6);

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
  /** Operations of one ADD (and of one DEL) the agent serves. */
  agentOps?: number;
  runtime: CniRuntime;
  list: ReturnType<typeof parseConfList>;
  add: number[];
  del: number[];
}

function conflist(obj: unknown) {
  return parseConfList(new TextEncoder().encode(JSON.stringify(obj)));
}

const DELEGATE = {
  hairpinMode: true,
  forceAddress: true,
  isDefaultGateway: true,
};

function lists(dir: string) {
  const flannel = (tag: string) => ({
    type: "flannel",
    subnetFile: `${dir}/subnet.env`,
    dataDir: `${dir}/flannel-${tag}`,
    ipam: { dataDir: `${dir}/ipam-${tag}` },
    delegate: DELEGATE,
  });
  const portmap = { type: "portmap", capabilities: { portMappings: true } };
  const bandwidth = { type: "bandwidth", capabilities: { bandwidth: true } };
  return {
    weft: conflist({
      name: "cbr0",
      cniVersion: "1.0.0",
      plugins: [{
        ...flannel("w"),
        capabilities: { portMappings: true, bandwidth: true },
      }],
    }),
    k3s: conflist({
      name: "cbr0",
      cniVersion: "1.0.0",
      plugins: [flannel("k"), portmap, bandwidth],
    }),
    // What flannel renders for bridge, handed to the reference bridge.
    reference: conflist({
      name: "cbr0",
      cniVersion: "1.0.0",
      plugins: [
        {
          type: "bridge",
          bridge: "cni1",
          ...DELEGATE,
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
        bandwidth,
      ],
    }),
  };
}

async function inner(podPath: string, dir: string): Promise<void> {
  const n = Number(Deno.env.get("WEFT_BENCH_N") ?? 30);
  Deno.writeTextFileSync(
    `${dir}/subnet.env`,
    "FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=10.42.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
  const bin = `${dir}/bin`;
  await installPlugins(bin);
  const binSh = `${dir}/bin-sh`;
  await installPlugins(binSh, Deno.execPath(), { launcher: false });
  const l = lists(dir);
  const quiet = () => {};
  const agentSocket = `${dir}/cni.sock`;
  await using agent = await startServer(null, agentSocket, true);
  const exec = (binDir: string, tag: string, socket = `${dir}/none.sock`) =>
    new CniRuntime({
      inProcess: false,
      binDirs: [binDir],
      cacheDir: `${dir}/cache-${tag}`,
      env: { ...Deno.env.toObject(), [CNI_SOCKET_ENV]: socket },
      log: quiet,
    });
  const contenders = (): Contender[] => [
    {
      label: "reference exec'd (bridge+host-local, portmap, bandwidth)",
      runtime: exec(REF, "ref"),
      list: l.reference,
      add: [],
      del: [],
    },
    {
      label: "weft exec'd, agent serving, default conflist",
      agentOps: 1,
      runtime: exec(bin, "w", agentSocket),
      list: l.weft,
      add: [],
      del: [],
    },
    {
      label: "weft exec'd, no agent (fallback), default conflist",
      runtime: exec(bin, "f"),
      list: l.weft,
      add: [],
      del: [],
    },
    {
      label: "weft exec'd, Deno thin client (no launcher), agent serving",
      agentOps: 1,
      runtime: exec(binSh, "t", agentSocket),
      list: l.weft,
      add: [],
      del: [],
    },
    {
      label: "weft exec'd, agent serving, --cni-chain k3s",
      agentOps: 3,
      runtime: exec(bin, "k", agentSocket),
      list: l.k3s,
      add: [],
      del: [],
    },
    {
      label: "weft runtime in process, default conflist",
      runtime: new CniRuntime({ cacheDir: `${dir}/cache-i`, log: quiet }),
      list: l.weft,
      add: [],
      del: [],
    },
  ];
  const pods: [string, RuntimeConf["capabilityArgs"]][] = [
    ["the usual pod (no host port)", {}],
    ["a pod with one host port", {
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
    }],
  ];
  let weftAdd: number[] = [];
  for (const [what, caps] of pods) {
    const cs = contenders();
    const firstOp = agent.served.length;
    const rt: RuntimeConf = {
      containerId: "benchpod",
      netns: podPath,
      ifname: "eth0",
      capabilityArgs: caps,
    };
    // Operations handed to the agent so far: each contender's timing starts
    // once the agent has answered them all and run their deferred work (a
    // DEL's veth deletion), so no contender is timed while the agent is
    // still tearing down another's pod.
    let issued = agent.served.length;
    for (let i = 0; i < 3 + n; i++) {
      for (const c of cs) {
        await agent.settled(issued);
        issued += 2 * (c.agentOps ?? 0);
        const t0 = performance.now();
        const result = await c.runtime.add(c.list, rt);
        const t1 = performance.now();
        await c.runtime.del(c.list, rt);
        const t2 = performance.now();
        if (!result.ips?.length) throw new Error(`${c.label}: ADD gave no IP`);
        if (i >= 3) {
          c.add.push(t1 - t0);
          c.del.push(t2 - t1);
        }
      }
    }
    console.log(`ADD then DEL, ${what}, ${n} iterations (ms, p50 / p99)`);
    for (const c of cs) {
      const tot = c.add.map((a, i) => a + c.del[i]);
      console.log(
        `  ${c.label.padEnd(60)} ADD ${fmt(pct(c.add, 50))} /${
          fmt(pct(c.add, 99))
        }  DEL ${fmt(pct(c.del, 50))} /${fmt(pct(c.del, 99))}  ADD+DEL ${
          fmt(pct(tot, 50))
        } /${fmt(pct(tot, 99))}`,
      );
    }
    const inAgent = (cmd: string) =>
      fmt(pct(
        agent.served.slice(firstOp).filter((o) => o.command === cmd).map((o) =>
          o.ms
        ),
        50,
      ));
    console.log(
      `  inside the agent (all served plugins): ADD ${inAgent("ADD")}  DEL ${
        inAgent("DEL")
      }  (p50; the rest of an exec'd figure is process starts)`,
    );
    const [ref, ...rest] = cs.map((c) => c.add.map((a, i) => a + c.del[i]));
    const goals = [
      "goal <= 0.70x, must <= 1.00x",
      "without an agent",
      "other arches",
      "k3s chain",
      "goal <= 0.40x",
    ];
    rest.forEach((xs, i) => {
      const label = cs[i + 1].label.split(", ").slice(0, 2).join(", ");
      console.log(
        `  ratio ${label.padEnd(36)} / reference: p50 ${
          (pct(xs, 50) / pct(ref, 50)).toFixed(2)
        }x  p99 ${(pct(xs, 99) / pct(ref, 99)).toFixed(2)}x   (${goals[i]})`,
      );
    });
    if (!weftAdd.length) weftAdd = cs[1].add;
  }
  // 2 pods x 3 warm-ups + 2n iterations x (ADD + DEL) x (1 + 1 + 3
  // plugins: launcher, thin client, k3s chain).
  const want = 2 * (3 + n) * 2 * 5;
  if (agent.served.length !== want) {
    throw new Error(
      `the agent served ${agent.served.length} of ${want} operations`,
    );
  }
  await startup(dir, bin, binSh, weftAdd, agentSocket);
}

/** p50 wall time of starting `cmd` `runs` times (2 warm-ups dropped). */
async function timeStart(
  cmd: string[],
  env: Record<string, string>,
  runs = 15,
): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < runs + 2; i++) {
    const t0 = performance.now();
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    if (out.code !== 0) throw new Error(`${cmd.join(" ")} exited ${out.code}`);
    if (i >= 2) xs.push(performance.now() - t0);
  }
  return pct(xs, 50);
}

/** The start breakdown and the wrapper forms measured. */
async function startup(
  dir: string,
  bin: string,
  binSh: string,
  weftAdd: number[],
  socket: string,
) {
  const deno = Deno.execPath();
  Deno.writeTextFileSync(`${dir}/empty.js`, "");
  const bundle = `${bin}/.weft-cni.js`;
  const entry = `${ROOT}src/cni/main.ts`;
  // [label, command, the agent's socket when it is to answer]
  const forms: [string, string[], string?][] = [
    ["empty Deno start (deno run empty.js)", [
      deno,
      "run",
      "-A",
      "--no-config",
      `${dir}/empty.js`,
    ]],
    ["reference bridge VERSION", [`${REF}/bridge`]],
    ["VERSION via the launcher, agent serving", [`${bin}/flannel`], socket],
    ["VERSION via the launcher, no agent (execs deno, bundle)", [
      `${bin}/flannel`,
    ]],
    ["VERSION via the sh wrapper + Deno thin client, agent serving", [
      `${binSh}/flannel`,
    ], socket],
    ["VERSION via the sh wrapper (--no-config, bundle), no agent", [
      `${binSh}/flannel`,
    ]],
    ["  bundle + --no-lock --no-npm --no-remote --cached-only", [
      deno,
      "run",
      "-A",
      "-q",
      "--no-config",
      "--no-lock",
      "--no-npm",
      "--no-remote",
      "--cached-only",
      bundle,
      "flannel",
    ]],
    ["  bundle, --no-code-cache", [
      deno,
      "run",
      "-A",
      "-q",
      "--no-config",
      "--no-code-cache",
      bundle,
      "flannel",
    ]],
    ["  src/cni/main.ts, --no-config (no bundle)", [
      deno,
      "run",
      "-A",
      "-q",
      "--no-config",
      entry,
      "flannel",
    ]],
    ["  main.ts, --config deno.json, bash exec -a (old wrapper)", [
      "bash",
      "-c",
      `exec -a flannel '${deno}' run -A -q --config '${ROOT}deno.json' '${ROOT}main.ts'`,
    ]],
  ];
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    CNI_COMMAND: "VERSION",
    [CNI_SOCKET_ENV]: `${dir}/none.sock`,
  };
  const rounds = 3;
  const times = forms.map(() => [] as number[]);
  // Interleaved rounds: a noisy neighbour hits every form alike.
  for (let r = 0; r < rounds; r++) {
    for (const [i, [, cmd, sock]] of forms.entries()) {
      const e = sock ? { ...env, [CNI_SOCKET_ENV]: sock } : env;
      times[i].push(await timeStart(cmd, e, 8));
    }
  }
  console.log("start breakdown (ms, p50)");
  for (const [i, [label]] of forms.entries()) {
    console.log(`  ${label.padEnd(60)} ${fmt(pct(times[i], 50))}`);
  }
  console.log(
    `  ${"plugin ADD (weft flannel, usual pod, exec'd, agent)".padEnd(60)} ${
      fmt(pct(weftAdd, 50))
    }`,
  );
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--inner");
  if (i >= 0) await inner(Deno.args[i + 1], Deno.args[i + 2]);
  else await outer();
}
