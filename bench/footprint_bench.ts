// Footprint: the resident memory of `weft agent` and `weft server` (with its
// own agent tasks) on a 2-node vxlan cluster in weft-t- namespaces (the
// demo's topology: real processes, private mounts, pods attached through
// `weft cni add`), against the musts of issue 10 (agent <= 55 MB, server
// <= 80 MB). Where the memory goes: VmRSS and /proc/<pid>/smaps split by
// mapping (the executable's pages, shared libraries, malloc, anonymous
// mappings), and the V8 heap the process itself reports in its node
// endpoint's /status (Deno.memoryUsage()).

import { runChecks } from "../src/cli/demo/matrix.ts";
import { Demo } from "../src/cli/demo/mod.ts";
import { exec } from "../src/cli/exec.ts";
import { MALLOC_ARENA_MAX, MEMORY_V8_FLAGS } from "../src/cli/memory.ts";
import { TRIM_EVERY_MS } from "../src/cli/run.ts";

const MB = 1024 * 1024;
const SAMPLES = 10;
const EVERY_MS = 6000;

/** Resident bytes by kind of mapping, from /proc/<pid>/smaps. */
export interface Smaps {
  binary: number;
  libs: number;
  malloc: number;
  anon: number;
  other: number;
}

export function parseSmaps(text: string, exe: string): Smaps {
  const out: Smaps = { binary: 0, libs: 0, malloc: 0, anon: 0, other: 0 };
  let kind: keyof Smaps = "other";
  for (const line of text.split("\n")) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/);
    if (head) {
      const path = head[1].trim();
      kind = path === exe
        ? "binary"
        : /\.so(\.|$)/.test(path)
        ? "libs"
        : path === "[heap]"
        ? "malloc"
        : path === "" || path.startsWith("[anon")
        ? "anon"
        : "other";
      continue;
    }
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    if (rss) out[kind] += Number(rss[1]) * 1024;
  }
  return out;
}

interface Memory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

interface Sample {
  rss: number;
  smaps: Smaps;
  v8?: Memory;
}

function vmRss(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = status.match(/^VmRSS:\s+(\d+) kB/m);
  if (!kb) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb[1]) * 1024;
}

/** The process's own report: its node endpoint's /status, in its netns. */
async function v8Report(
  demo: Demo,
  node: Demo["topo"]["nodes"][number],
): Promise<Memory | undefined> {
  const r = await exec([
    ...demo.topo.enter(node),
    "curl",
    "-sS",
    "--max-time",
    "3",
    "http://127.0.0.1:10250/status",
  ]);
  if (r.code !== 0) return undefined;
  const doc = JSON.parse(r.stdout) as { memory?: Memory };
  return doc.memory;
}

async function sample(
  demo: Demo,
  name: string,
  node: Demo["topo"]["nodes"][number],
): Promise<Sample> {
  const proc = demo.proc(name);
  if (!proc?.running) throw new Error(`${name} is not running`);
  const pid = proc.pid;
  const exe = Deno.readLinkSync(`/proc/${pid}/exe`);
  // The RSS first: the V8 report is a request the process serves, which
  // would count the bench's own probe in what it measures.
  const rss = vmRss(pid);
  const smaps = parseSmaps(Deno.readTextFileSync(`/proc/${pid}/smaps`), exe);
  return { rss, smaps, v8: await v8Report(demo, node) };
}

const mb = (n: number) => (n / MB).toFixed(1);

function row(label: string, must: number, s: Sample): string {
  const heap = s.v8 ? `${mb(s.v8.heapUsed)}/${mb(s.v8.heapTotal)}` : "n/a";
  const m = s.smaps;
  const otherAnon = s.v8 ? mb(Math.max(0, m.anon - s.v8.heapTotal)) : "n/a";
  return `  ${label.padEnd(15)} ${mb(s.rss).padStart(5)} MB  <= ${must}  ${
    (s.rss / (must * MB)).toFixed(2)
  }x ${s.rss <= must * MB ? "ok  " : "OVER"} | ${heap.padStart(9)} | ${
    mb(m.binary).padStart(10)
  } ${mb(m.libs).padStart(5)} ${mb(m.malloc).padStart(6)} ${
    otherAnon.padStart(10)
  } ${mb(m.other).padStart(5)}`;
}

/** What the process logged about the start-up pages it gave back. */
async function released(logFile: string): Promise<string> {
  const log = await Deno.readTextFile(logFile).catch(() => "");
  return log.match(/unmapped the executable's ([\d.]+) MB/)?.[1] ?? "0";
}

async function explain(label: string, s: Sample, log: string): Promise<void> {
  if (!s.v8) return;
  const m = s.smaps;
  const rest = s.rss - s.v8.heapTotal;
  console.log(
    `  ${label}: V8 heap ${mb(s.v8.heapTotal)} MB (${
      Math.round(100 * s.v8.heapTotal / s.rss)
    }%, ${mb(s.v8.heapUsed)} used); the rest ${
      mb(rest)
    } MB: the executable's pages ${
      mb(m.binary)
    } (the code and data Deno runs; ${await released(
      log,
    )} MB unmapped once all tasks were ready, and again every ${
      TRIM_EVERY_MS / 1000
    } s: what is resident is the code run since; it maps back from the page cache), malloc ${
      mb(m.malloc)
    }, other anonymous memory ${
      mb(Math.max(0, m.anon - s.v8.heapTotal))
    } (thread stacks and arenas, V8 code and zones), shared libraries ${
      mb(m.libs)
    } (libc, libnl), other files ${mb(m.other)}`,
  );
}

/** VmRSS of `deno run` of a script that only waits: the runtime's floor. */
async function emptyDeno(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "weft-bench-" });
  const script = `${dir}/wait.js`;
  await Deno.writeTextFile(script, "setTimeout(() => {}, 3000);\n");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", script],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await new Promise((r) => setTimeout(r, 1500));
    return vmRss(child.pid);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}

async function main(): Promise<number> {
  const demo = new Demo({
    nodes: 2,
    backend: "vxlan",
    check: true,
    timeoutMs: 240_000,
    prefix: `weft-t-${Deno.pid}-fp-`,
  }, new AbortController().signal);
  const quiet = console.log;
  let ok = false;
  try {
    // The demo narrates each step; the bench prints only its figures.
    console.log = () => {};
    await demo.build();
    const s = await demo.converge(90_000);
    console.log = quiet;
    if (s.failures.length > 0) {
      throw new Error(
        `the cluster does not work: ${
          s.failures.map((f) => `${f.check.from} -> ${f.check.to}: ${f.error}`)
            .join("; ")
        }`,
      );
    }
    const [n1, n2] = demo.topo.nodes;
    // Peak over a minute of samples once the cluster is up and the pods
    // talk: RSS moves with garbage collection.
    let agent: Sample | undefined;
    let server: Sample | undefined;
    for (let i = 0; i < SAMPLES; i++) {
      // The checks keep the cluster busy between samples: pod to pod over
      // the overlay, and the server through each agent's tunnel.
      await runChecks(demo.checks());
      await new Promise((r) => setTimeout(r, EVERY_MS));
      const a = await sample(demo, "node2 agent", n2);
      const b = await sample(demo, "node1 server", n1);
      if (!agent || a.rss > agent.rss) agent = a;
      if (!server || b.rss > server.rss) server = b;
    }
    console.log(
      `RSS on a 2-node vxlan cluster, ${demo.pods.length} pods attached through "weft cni add" (peak of ${SAMPLES} samples over ${
        SAMPLES * EVERY_MS / 1000
      } s); V8 heap as the process reports it (Deno.memoryUsage), the rest from /proc/<pid>/smaps (MB):`,
    );
    console.log(
      `  ${"process".padEnd(15)} ${
        "VmRSS".padStart(8)
      }  must  ratio    | V8 used/total | executable  libs malloc other anon files`,
    );
    console.log(row("agent (node2)", 55, agent!));
    console.log(row("server (node1)", 80, server!));
    console.log("  where the memory goes:");
    await explain("agent", agent!, demo.proc("node2 agent")!.logFile);
    await explain("server", server!, demo.proc("node1 server")!.logFile);
    console.log(
      `  floor: a Deno process that only waits (deno run, default settings, nothing unmapped) is ${
        mb(await emptyDeno())
      } MB`,
    );
    console.log(
      `  settings (src/cli/memory.ts): agent DENO_V8_FLAGS=${
        MEMORY_V8_FLAGS.agent.join(",")
      }, server DENO_V8_FLAGS=${
        MEMORY_V8_FLAGS.server.join(",")
      }, MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX}; the executable's clean pages unmapped once all tasks are ready and every ${
        TRIM_EVERY_MS / 1000
      } s with a full GC and malloc_trim (src/cli/run.ts, ffi/memory.ts); from source both run the cached bundle of main.ts (src/cli/source_bundle.ts: no TypeScript emit or inline source maps held; WEFT_NO_BUNDLE=1 runs the modules)`,
    );
    console.log(
      "  peer (text only, not run here): flanneld alone; kube-flannel.yml requests and limits it at 50Mi",
    );
    ok = agent!.rss <= 55 * MB && server!.rss <= 80 * MB;
    return ok ? 0 : 1;
  } finally {
    // The processes' logs are kept when something failed.
    console.log = () => {};
    await demo.teardown(ok).catch(() => {});
    console.log = quiet;
  }
}

if (import.meta.main) Deno.exitCode = await main();
