// Each role loads only what it runs: the modules `weft agent` loads (main.ts,
// the CLI dispatcher, the agent command and everything they import
// statically) must not include the server's — the API, the store, SQLite,
// hono, the tunnel's server side — nor YAML, which the agent loads only on
// demand (a config file or a kubeconfig to read). Read from `deno info
// --json`.

import { assert, assertEquals } from "@std/assert";

const ROOT = new URL("../../", import.meta.url);
const CONFIG = new URL("deno.json", ROOT).pathname;

interface Dep {
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface Info {
  roots: string[];
  modules: { specifier: string; dependencies?: Dep[] }[];
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
