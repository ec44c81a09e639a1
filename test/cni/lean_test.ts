// The CNI start path stays lean: the from-source entry src/cni/main.ts is
// the thin client alone; the module graph a plugin can load — main.ts's
// plugin branch and the client's fallback src/cni/skel.ts, following static
// imports and the lazy plugin imports alike — holds only
// src/cni, src/net, src/util and ffi/: no npm or remote package, no hono,
// no YAML, no API, store, CLI, kube client, tunnel or flannel daemon code.

import { assert, assertEquals } from "@std/assert";

const ROOT = new URL("../../", import.meta.url);

interface Dep {
  specifier: string;
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface Mod {
  specifier: string;
  dependencies?: Dep[];
  error?: string;
}

async function graph(entry: string): Promise<Map<string, Mod>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(entry, ROOT).pathname],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  const mods = new Map<string, Mod>();
  for (const m of doc.modules as Mod[]) mods.set(m.specifier, m);
  return mods;
}

/** Every module reachable from `starts` (dynamic imports too, unless `skip`). */
function reach(
  mods: Map<string, Mod>,
  starts: string[],
  skip: (dep: Dep, from: string) => boolean = () => false,
): Set<string> {
  const seen = new Set<string>();
  const todo = [...starts];
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of mods.get(s)?.dependencies ?? []) {
      // A type-only import has no `code`: erased, never loaded.
      if (!d.code || skip(d, s)) continue;
      todo.push(d.code.specifier);
    }
  }
  return seen;
}

const HEAVY =
  /^(npm:|jsr:|https?:|node:)|hono|yaml|\/src\/(api|store|cli|kube|tunnel|flannel|supervisor|tls)\//;
const ALLOWED = /^file:\/\/.*\/(src\/(cni|net|util)|ffi)\/[^]*\.ts$/;

function heavy(mods: Set<string>): string[] {
  return [...mods].filter((s) => HEAVY.test(s) || !ALLOWED.test(s)).sort();
}

const spec = (path: string) => new URL(path, ROOT).href;

Deno.test("main.ts: the plugin branch reaches only src/cni, src/net, src/util and ffi/", async () => {
  const mods = await graph("main.ts");
  const main = spec("main.ts");
  // main.ts's own static imports, then its lazy plugin import: everything
  // but the CLI branch (the dynamic import of src/cli/mod.ts).
  const cli = spec("src/cli/mod.ts");
  const plugin = reach(
    mods,
    [main],
    (d, from) => from === main && d.code?.specifier === cli,
  );
  plugin.delete(main);
  assert(plugin.has(spec("src/cni/skel.ts")), "the plugin branch is missing");
  assert(plugin.has(spec("src/cni/portmap/mod.ts")), "lazy plugins missing");
  assertEquals(heavy(plugin), []);
  // The check itself can fail: the CLI branch is full of heavy modules.
  const all = reach(mods, [main]);
  assert(heavy(all).some((s) => s.startsWith("npm:")), "detector is blind");
  assert(heavy(all).some((s) => s.includes("/src/cli/")), "detector is blind");
});

Deno.test("src/cni/main.ts (the wrappers' entry and its bundle) is the thin client: argv0, the client, the socket framing, sync stdio — no skeleton, plugin or ffi/", async () => {
  const mods = await graph("src/cni/main.ts");
  const all = reach(mods, [spec("src/cni/main.ts")]);
  const names = [...all].map((s) => s.slice(ROOT.href.length)).sort();
  assertEquals(names, [
    "src/cni/argv0.ts",
    "src/cni/client.ts",
    "src/cni/main.ts",
    "src/cni/socket.ts",
    "src/util/sync_io.ts",
  ]);
});

Deno.test("src/cni/skel.ts (the client's fallback and its bundle) reaches only src/cni, src/net, src/util and ffi/", async () => {
  const mods = await graph("src/cni/skel.ts");
  const all = reach(mods, [spec("src/cni/skel.ts")]);
  for (const p of ["flannel", "bridge", "host_local", "portmap", "bandwidth"]) {
    assert(all.has(spec(`src/cni/${p}/mod.ts`)), `${p} not in the graph`);
  }
  assertEquals(heavy(all), []);
});

Deno.test("a plugin answering VERSION without an agent loads only the skeleton: no plugin, no ffi/, no netfilter", async () => {
  const mods = await graph("src/cni/skel.ts");
  const eager = reach(mods, [spec("src/cni/skel.ts")], (d) => !!d.isDynamic);
  const names = [...eager].map((s) => s.slice(ROOT.href.length)).sort();
  assert(!names.some((n) => n.startsWith("ffi/")), names.join("\n"));
  assert(!names.some((n) => n.includes("/netfilter/")), names.join("\n"));
  assert(
    !names.some((n) =>
      /src\/cni\/(flannel|bridge|host_local|portmap|bandwidth|loopback)\//.test(
        n,
      )
    ),
    names.join("\n"),
  );
});
