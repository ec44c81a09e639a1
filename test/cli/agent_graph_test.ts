// Each role loads only what it runs: the modules `weft agent` loads (main.ts,
// the CLI dispatcher, the agent command and everything they import
// statically) must not include the server's — the API, the store, SQLite,
// hono, the tunnel's server side — nor YAML, which the agent loads only on
// demand (a config file or a kubeconfig to read), nor what a task loads
// only once it has work: the NetworkPolicy controller (with the first
// policy), the CNI plugins (with the first CNI operation), prom-client
// (with the first scrape), the flannel backend (the configured one, when
// flannel starts). And the start graph stays within a budget of source
// bytes: a module costs the agent several times its size in RSS (the
// emitted code with its inline source map, comments included, in V8's heap
// or Deno's; the source in Deno's module graph), so a heavy one entering
// fails here. Read from `deno info --json`.

import { assert, assertEquals } from "@std/assert";

const ROOT = new URL("../../", import.meta.url);
const CONFIG = new URL("deno.json", ROOT).pathname;

interface Dep {
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface Info {
  roots: string[];
  modules: { specifier: string; size?: number; dependencies?: Dep[] }[];
  redirects: Record<string, string>;
}

async function info(entry: string): Promise<Info> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", CONFIG, new URL(entry, ROOT).href],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, `deno info ${entry}: ${err}`);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as Info;
}

/**
 * The modules loaded from `roots` through static imports, and the dynamic
 * imports met on the way (except those of `dispatchers`, which pick a role).
 */
function loaded(
  graph: Info,
  roots: string[],
  dispatchers: string[] = [],
): { statics: Set<string>; dynamics: Set<string> } {
  const skip = new Set(dispatchers.map((d) => new URL(d, ROOT).href));
  const byName = new Map(graph.modules.map((m) => [m.specifier, m]));
  const resolve = (s: string) => graph.redirects[s] ?? s;
  const statics = new Set<string>();
  const dynamics = new Set<string>();
  const todo = roots.map((r) => resolve(new URL(r, ROOT).href));
  while (todo.length) {
    const s = todo.pop()!;
    if (statics.has(s)) continue;
    statics.add(s);
    for (const d of byName.get(s)?.dependencies ?? []) {
      if (!d.code) continue; // type-only
      const to = resolve(d.code.specifier);
      if (d.isDynamic) {
        if (!skip.has(s)) dynamics.add(to);
      } else todo.push(to);
    }
  }
  return { statics, dynamics };
}

/** Why a module must not be in the agent, or null. */
function serverOnly(spec: string): string | null {
  const rel = spec.startsWith(ROOT.href) ? spec.slice(ROOT.href.length) : spec;
  if (rel.startsWith("src/api/")) return "the API server";
  // The flag table validates --datastore-endpoint with the store's small,
  // dependency-free endpoint parser (and its error class): not the store.
  if (rel === "src/store/endpoint.ts" || rel === "src/store/errors.ts") {
    return null;
  }
  if (rel.startsWith("src/store/")) return "the datastore";
  if (rel === "src/tunnel/server.ts") return "the tunnel's server side";
  if (rel === "src/cli/server.ts") return "the server command";
  if (rel.startsWith("src/cli/demo/")) return "the demo";
  if (spec === "node:sqlite") return "SQLite";
  if (/^npm:\/?hono@/.test(spec)) return "hono";
  if (/^npm:\/?deno-std@[^/]+\/yaml\//.test(spec)) return "YAML";
  return null;
}

function offenders(modules: Set<string>): string[] {
  return [...modules].flatMap((m) => {
    const why = serverOnly(m);
    return why ? [`${m} (${why})`] : [];
  });
}

/** Why a module must not be in the agent's start graph (loaded when its
 * task has work instead), or null. */
function onDemandOnly(spec: string): string | null {
  const rel = spec.startsWith(ROOT.href) ? spec.slice(ROOT.href.length) : spec;
  if (rel.startsWith("src/netpol/")) {
    return "network policy (the task's standby, the controller with the first policy)";
  }
  if (
    /^src\/cni\/(flannel|bridge|host_local|portmap|bandwidth|loopback|runtime)\//
      .test(rel) || rel === "src/cni/server.ts"
  ) {
    return "a CNI plugin or the CNI server (the cni-socket task, the first operation)";
  }
  if (
    /^src\/flannel\/backend\/(vxlan|host_gw|wireguard|wg_\w+|none)\.ts$/.test(
      rel,
    )
  ) {
    return "a flannel backend (only the configured one, when flannel starts)";
  }
  // npm packages (prom-client: the first scrape): only the flag parser is
  // needed to start.
  if (spec.startsWith("npm:") && !/^npm:\/?deno-std@[^/]+\/cli\//.test(spec)) {
    return "an npm package";
  }
  return null;
}

/**
 * The agent's start graph (main.ts, the CLI, the agent command: its own
 * sources, src/ and ffi/) in bytes of source, measured at 508 KB. Raise it
 * only for code every agent runs from its first second, after checking
 * bench/footprint_bench.ts; load the rest on demand.
 */
const AGENT_START_BUDGET = 550 * 1024;

const AGENT_ROOTS = [
  "main.ts",
  "src/cli/mod.ts",
  "src/cli/memory.ts",
  "src/cli/agent.ts",
];

Deno.test("weft agent loads none of the server's modules, nor YAML up front", async () => {
  const graph = await info("src/cli/agent.ts");
  const main = await info("main.ts");
  const merged: Info = {
    roots: [],
    modules: [...main.modules, ...graph.modules],
    redirects: { ...main.redirects, ...graph.redirects },
  };
  const { statics, dynamics } = loaded(merged, AGENT_ROOTS, [
    "main.ts",
    "src/cli/mod.ts",
  ]);
  assert(
    [...statics].some((m) => m.endsWith("/src/tunnel/agent.ts")),
    "the walk reached the agent's tunnel (the graph was read)",
  );
  assertEquals(offenders(statics), []);
  assertEquals(
    [...statics].flatMap((m) => {
      const why = onDemandOnly(m);
      return why ? [`${m} (${why})`] : [];
    }),
    [],
  );
  // On demand it may load YAML, and nothing of the server's.
  const onDemand = [...dynamics].map(serverOnly).filter((w) => w !== null);
  assertEquals(onDemand.filter((w) => w !== "YAML"), []);
  assert(onDemand.includes("YAML"), "YAML is loaded on demand");
});

Deno.test("the check sees the server's modules where they are: in weft server", async () => {
  const graph = await info("src/cli/server.ts");
  const { statics } = loaded(graph, ["src/cli/server.ts"]);
  const found = offenders(statics).join("\n");
  for (const want of ["the API server", "the datastore", "SQLite", "hono"]) {
    assert(found.includes(want), `server graph lacks ${want}:\n${found}`);
  }
});

/** The merged graphs of `entries`, and the static walk from `roots`. */
async function agentGraph(): Promise<{ merged: Info; statics: Set<string> }> {
  const graphs = await Promise.all(["main.ts", "src/cli/agent.ts"].map(info));
  const merged: Info = {
    roots: [],
    modules: graphs.flatMap((g) => g.modules),
    redirects: Object.assign({}, ...graphs.map((g) => g.redirects)),
  };
  const { statics } = loaded(merged, AGENT_ROOTS, [
    "main.ts",
    "src/cli/mod.ts",
  ]);
  return { merged, statics };
}

Deno.test("weft agent's start graph stays within its budget of source bytes", async () => {
  const { merged, statics } = await agentGraph();
  const size = new Map(merged.modules.map((m) => [m.specifier, m.size ?? 0]));
  const own = [...statics].filter((m) => m.startsWith(ROOT.href));
  const total = own.reduce((n, m) => n + (size.get(m) ?? 0), 0);
  assert(total > 100 * 1024, `the walk measured ${total} bytes`);
  const biggest = own.sort((a, b) => size.get(b)! - size.get(a)!).slice(0, 5)
    .map((m) => `${m.slice(ROOT.href.length)} ${size.get(m)}`).join(", ");
  assert(
    total <= AGENT_START_BUDGET,
    `the agent's start graph is ${
      Math.round(total / 1024)
    } KB of source (budget ${
      AGENT_START_BUDGET / 1024
    } KB); load what a task needs only once it has work. Biggest: ${biggest}`,
  );
});

Deno.test("the network-policy task's standby loads none of the controller", async () => {
  const graph = await info("src/netpol/standby.ts");
  const { statics } = loaded(graph, ["src/netpol/standby.ts"]);
  const heavy = [...statics].map((m) => m.slice(ROOT.href.length)).filter((m) =>
    /^src\/netpol\/(controller|compile|cache|validate|views|selector|ranges)\.ts$/
      .test(m)
  );
  assertEquals(heavy, []);
  assert(statics.has(new URL("src/netpol/table.ts", ROOT).href));
});

Deno.test("the check sees the on-demand modules where they are: behind the agent's dynamic imports", async () => {
  const { merged } = await agentGraph();
  // Walking the dynamic imports too reaches them: the check above is real.
  const all = new Set<string>();
  const byName = new Map(merged.modules.map((m) => [m.specifier, m]));
  const resolve = (s: string) => merged.redirects[s] ?? s;
  const todo = AGENT_ROOTS.map((r) => resolve(new URL(r, ROOT).href));
  while (todo.length) {
    const s = todo.pop()!;
    if (all.has(s)) continue;
    all.add(s);
    for (const d of byName.get(s)?.dependencies ?? []) {
      if (d.code) todo.push(resolve(d.code.specifier));
    }
  }
  const why = new Set([...all].map(onDemandOnly).filter((w) => w !== null));
  assert(why.has("an npm package"), [...why].join("; "));
  assert([...why].some((w) => w.startsWith("network policy")));
  assert([...why].some((w) => w.startsWith("a CNI plugin")));
});

Deno.test("the modules weft agent and weft server load are Latin-1 text (one character beyond makes V8 hold the module's code as two-byte strings, twice the memory)", async () => {
  // All the agent may load (its dynamic imports too) and the server's start.
  const { merged } = await agentGraph();
  const agent = merged.modules.map((m) => m.specifier);
  const server = loaded(await info("main.ts"), [
    "main.ts",
    "src/cli/server.ts",
  ]).statics;
  assert(agent.some((m) => m.endsWith("/src/cni/server.ts")), "walked");
  const wide: string[] = [];
  for (const m of new Set([...agent, ...server])) {
    // `weft demo` prints arrows and dashes; it is no long-running role.
    if (!m.startsWith(ROOT.href) || m.includes("/src/cli/demo/")) continue;
    const text = await Deno.readTextFile(new URL(m));
    const at = [...text].findIndex((c) => c.codePointAt(0)! > 0xff);
    if (at >= 0) wide.push(`${m.slice(ROOT.href.length)} (${[...text][at]})`);
  }
  assertEquals(wide, []);
});
