// A tampered dataplane: time from a change to flannel.1 (made by someone
// else) to weft's repair, p50/p99 over 100 tampering events, and the
// agent's CPU time per repair. Before netlink notifications the same
// changes waited for the periodic reconcile (30 s; the issue measured
// 26.5-28.9 s); flannel itself repairs none of them.
//
// The agent (runFlannel with an in-memory node source holding one remote
// vxlan lease) runs as its own process, this file started with --agent, so
// that its CPU time is read from /proc/<pid>/stat; the bench process makes
// each change through ffi/ and polls the kernel until the entry is right
// again. Events are spaced 300 ms apart (no back-off: each is a separate
// incident). CPU per repair is the agent's CPU over the run minus its idle
// CPU over as long a quiet period.

import { Netlink } from "../ffi/mod.ts";
import { runFlannel } from "../src/flannel/mod.ts";
import { FakeNodes, vxlanNode } from "../test/flannel/_fake_nodes.ts";
import { Underlay } from "../test/flannel/_underlay.ts";

const EVENTS = Number(Deno.env.get("REPAIR_BENCH_EVENTS") ?? 100);
const SPACING_MS = 300;
const MAC1 = "0a:58:0a:2a:02:00";
const BOGUS = "02:00:00:00:00:99";

/** --agent <netns path> <dir>: the flannel task, logging to stdout. */
async function agentMain(netns: string, dir: string): Promise<void> {
  const src = new FakeNodes();
  src.put({ metadata: { name: "n0" }, spec: { podCIDR: "10.42.1.0/24" } });
  src.put(vxlanNode("n1", "10.42.2.0/24", "192.168.77.2", MAC1));
  const ac = new AbortController();
  Deno.addSignalListener("SIGTERM", () => ac.abort());
  await runFlannel({
    nodeName: "n0",
    nodes: src,
    dataDir: dir,
    runDir: `${dir}/run`,
    netns,
    reconcileIntervalMs: 600_000,
    rulesIntervalMs: 600_000,
  }, {
    signal: ac.signal,
    ready: () => console.log("READY"),
    log: (m) => console.log(m),
  });
}

function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields 14 and 15 (utime, stime) are at 11 and 12 after the name
  return (Number(f[11]) + Number(f[12])) * 10; // USER_HZ = 100
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row {
  what: string;
  tamper: (nl: Netlink, dev: number) => void;
  repaired: (nl: Netlink, dev: number) => boolean;
}

const hasNeigh = (nl: Netlink, dev: number, ip: string, mac?: string) =>
  nl.neighList({ dev, family: 4 }).some((n) =>
    n.ip === ip && (mac === undefined || n.mac === mac)
  );
const hasFdb = (nl: Netlink, dev: number, mac: string) =>
  nl.fdbList(dev).some((f) => f.mac === mac);
const hasRoute = (nl: Netlink, dev: number, dst: string) =>
  nl.routeList({ family: 4, dev }).some((r) => r.dst === dst);

const ROWS: Row[] = [
  {
    what: "gateway neighbour set to a wrong MAC",
    tamper: (nl, dev) => nl.neighSet(dev, "10.42.2.0", BOGUS),
    repaired: (nl, dev) => hasNeigh(nl, dev, "10.42.2.0", MAC1),
  },
  {
    what: "deleted neighbour",
    tamper: (nl, dev) => nl.neighDel(dev, "10.42.2.0"),
    repaired: (nl, dev) => hasNeigh(nl, dev, "10.42.2.0", MAC1),
  },
  {
    what: "deleted route",
    tamper: (nl, dev) => nl.routeDel({ dst: "10.42.2.0/24", dev }),
    repaired: (nl, dev) => hasRoute(nl, dev, "10.42.2.0/24"),
  },
  {
    what: "deleted FDB entry",
    tamper: (nl, dev) => nl.fdbDel(dev, MAC1, "192.168.77.2"),
    repaired: (nl, dev) => hasFdb(nl, dev, MAC1),
  },
  {
    what: "bogus FDB entry",
    tamper: (nl, dev) => nl.fdbSet(dev, BOGUS, "192.168.77.99"),
    repaired: (nl, dev) => !hasFdb(nl, dev, BOGUS),
  },
  {
    what: "bogus permanent neighbour",
    tamper: (nl, dev) => nl.neighSet(dev, "10.42.9.0", BOGUS),
    repaired: (nl, dev) => !hasNeigh(nl, dev, "10.42.9.0"),
  },
  {
    what: "bogus route",
    tamper: (nl, dev) =>
      nl.routeReplace({
        dst: "10.42.9.0/24",
        gw: "10.42.9.0",
        dev,
        onlink: true,
      }),
    repaired: (nl, dev) => !hasRoute(nl, dev, "10.42.9.0/24"),
  },
];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function main(): Promise<void> {
  await using u = await Underlay.create(2);
  const dir = await Deno.makeTempDir({ prefix: "weft-repair-bench-" });
  const agent = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename!,
      "--agent",
      u.nodes[0].ns.path,
      dir,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: string[] = [];
  const reading = (async () => {
    const dec = agent.stdout.pipeThrough(new TextDecoderStream());
    let buf = "";
    for await (const chunk of dec) {
      buf += chunk;
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    }
  })();
  try {
    const end = Date.now() + 30_000;
    while (!lines.includes("READY")) {
      if (Date.now() > end) {
        throw new Error(`agent not ready:\n${lines.join("\n")}`);
      }
      await sleep(20);
    }
    using nl = Netlink.open({ netns: u.nodes[0].ns.path });
    const dev = nl.linkGet("flannel.1")!.index;
    while (!ROWS.every((r) => r.repaired(nl, dev))) await sleep(10);

    // Idle CPU over the same time the run will take.
    await sleep(500);
    const idle0 = cpuMs(agent.pid);
    const t0 = performance.now();
    await sleep(EVENTS * SPACING_MS);
    const idleCpu = cpuMs(agent.pid) - idle0;
    const idleWall = performance.now() - t0;

    const times: number[] = [];
    const byRow = new Map<string, number[]>();
    const cpu0 = cpuMs(agent.pid);
    const w0 = performance.now();
    for (let i = 0; i < EVENTS; i++) {
      const row = ROWS[i % ROWS.length];
      const t = performance.now();
      row.tamper(nl, dev);
      const deadline = t + 10_000;
      while (!row.repaired(nl, dev)) {
        if (performance.now() > deadline) {
          throw new Error(`${row.what} not repaired in 10 s`);
        }
        await sleep(1);
      }
      const ms = performance.now() - t;
      times.push(ms);
      byRow.set(row.what, [...byRow.get(row.what) ?? [], ms]);
      await sleep(SPACING_MS);
    }
    const runCpu = cpuMs(agent.pid) - cpu0;
    const runWall = performance.now() - w0;
    const perRepair = (runCpu - idleCpu * (runWall / idleWall)) / EVENTS;
    const f = (ms: number) => `${ms.toFixed(1).padStart(7)} ms`;
    console.log(
      `${EVENTS} tampering events on flannel.1 (${ROWS.length} kinds, ${SPACING_MS} ms apart), change -> repair:`,
    );
    console.log(`  weft p50                        ${f(pct(times, 50))}`);
    console.log(`  weft p99                        ${f(pct(times, 99))}`);
    console.log(`  weft max                        ${f(Math.max(...times))}`);
    console.log(
      `  periodic reconcile only (before) ~15000.0 ms mean (30 s interval), ${
        (15_000 / pct(times, 50)).toFixed(0)
      }x the p50`,
    );
    for (const [what, xs] of byRow) {
      console.log(`    ${what.padEnd(38)} p50 ${f(pct(xs, 50))}`);
    }
    console.log(
      `agent CPU: ${
        f(perRepair)
      } per repair (${runCpu} ms over the run, idle ${idleCpu} ms over ${
        (idleWall / 1000).toFixed(0)
      } s subtracted; 10 ms tick)`,
    );
    const passes = lines.filter((l) => l.startsWith("reconcile (")).length;
    console.log(`repair passes logged: ${passes} for ${EVENTS} events`);
  } finally {
    try {
      agent.kill("SIGTERM");
    } catch {
      // gone
    }
    const t = setTimeout(() => {
      try {
        agent.kill("SIGKILL");
      } catch {
        // gone
      }
    }, 5_000);
    await agent.status;
    clearTimeout(t);
    await reading.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--agent") await agentMain(Deno.args[1], Deno.args[2]);
  else await main();
}
