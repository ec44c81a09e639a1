// From source, `weft agent` and `weft server` run from a bundle of main.ts
// (deno bundle: one minified JavaScript file per chunk, code splitting for
// the on-demand modules, no source maps; prom-client and etcd3, CommonJS,
// stay npm imports resolved through deno.json), built once per state of
// the checkout and cached, instead of from the TypeScript modules. Deno keeps
// every TypeScript module's emitted code with an inline source map (the
// source again) and its module-graph machinery; on a 2-node cluster that was
// ~5 MB of the agent's RSS (bench/footprint_bench.ts: 59 -> 54 MB). A
// compiled weft carries its modules already emitted and is left alone.
//
// The cache key is every source file's path, size and mtime; one process
// builds (a lock directory; the others run the modules meanwhile) into a
// temporary directory renamed into place. Any failure (no deno bundle, a
// read-only cache) runs the modules as before. Old bundles are kept (a
// running process may still load chunks from one); each is ~1.4 MB.
// WEFT_NO_BUNDLE=1 turns it off (readable stack traces while debugging).

/** The checkout this module belongs to (main.ts, deno.json, src/, ffi/). */
export const SOURCE_ROOT = new URL("../../", import.meta.url).pathname;

/** Set in the bundled process: where the checkout is (cni_install.ts). */
export const SOURCE_ROOT_ENV = "WEFT_SOURCE_ROOT";
export const NO_BUNDLE_ENV = "WEFT_NO_BUNDLE";

/** The checkout's root, also from inside the bundle. */
export function sourceRoot(): string {
  return Deno.env.get(SOURCE_ROOT_ENV) || SOURCE_ROOT;
}

/** FNV-1a over the source tree's paths, sizes and mtimes. */
export function sourceKey(root = SOURCE_ROOT): string {
  let h = 0x811c9dc5;
  const mix = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  };
  const visit = (rel: string) => {
    const st = Deno.statSync(root + rel);
    if (st.isDirectory) {
      const names = [...Deno.readDirSync(root + rel)].map((e) => e.name)
        .sort();
      for (const n of names) visit(`${rel}/${n}`);
    } else if (/\.(ts|js|json|lock)$/.test(rel)) {
      mix(`${rel}:${st.size}:${st.mtime?.getTime() ?? 0};`);
    }
  };
  for (const top of ["main.ts", "deno.json", "deno.lock", "src", "ffi"]) {
    try {
      visit(top);
    } catch { /* deno.lock may be absent */ }
  }
  return h.toString(16).padStart(8, "0");
}

function cacheDir(env: Record<string, string>): string | null {
  const base = env.XDG_CACHE_HOME ||
    (env.HOME ? `${env.HOME}/.cache` : "");
  return base ? `${base}/weft` : null;
}

/**
 * The bundle's entry for the checkout as it is now, built when missing;
 * null when it cannot be had (then the modules run as before).
 */
export function ensureBundle(
  deno: string,
  env: Record<string, string> = Deno.env.toObject(),
  root = SOURCE_ROOT,
): string | null {
  if (env[NO_BUNDLE_ENV] === "1") return null;
  const base = cacheDir(env);
  if (!base) return null;
  try {
    const dir = `${base}/bundle-${sourceKey(root)}`;
    const entry = `${dir}/main.js`;
    try {
      Deno.statSync(entry);
      return entry;
    } catch { /* not built yet */ }
    Deno.mkdirSync(base, { recursive: true, mode: 0o700 });
    // One builder at a time (a cluster's processes start together): the
    // others run the modules this once instead of waiting.
    const lock = `${dir}.building`;
    if (!takeLock(lock)) return null;
    const tmp = Deno.makeTempDirSync({ dir: base, prefix: ".bundle-" });
    try {
      const out = new Deno.Command(deno, {
        args: [
          "bundle",
          "--config",
          `${root}deno.json`,
          "--platform",
          "deno",
          "--code-splitting",
          "--minify",
          // CommonJS npm packages stay npm packages (bundled, they lose
          // __dirname and their classes), loaded through deno.json's map.
          ...EXTERNAL.flatMap((p) => ["--external", p]),
          "--outdir",
          tmp,
          `${root}main.ts`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).outputSync();
      if (out.code !== 0) return null;
      Deno.statSync(`${tmp}/main.js`);
      pinExternals(tmp, root);
      try {
        Deno.renameSync(tmp, dir);
      } catch {
        // Another start built it first: use theirs.
        Deno.statSync(entry);
      }
      return entry;
    } finally {
      try {
        Deno.removeSync(tmp, { recursive: true });
      } catch { /* renamed */ }
      try {
        Deno.removeSync(lock);
      } catch { /* gone */ }
    }
  } catch {
    return null;
  }
}

/** The npm packages left out of the bundle (CommonJS). */
const EXTERNAL = ["prom-client", "etcd3"];

/**
 * deno.json's import map does not reach modules outside the checkout, so
 * the bundle's imports of the external packages are rewritten to the
 * `npm:` specifiers the map gives them.
 */
function pinExternals(dir: string, root: string): void {
  const map = (JSON.parse(Deno.readTextFileSync(`${root}deno.json`)) as {
    imports?: Record<string, string>;
  }).imports ?? {};
  for (const e of Deno.readDirSync(dir)) {
    if (!e.name.endsWith(".js")) continue;
    const path = `${dir}/${e.name}`;
    let text = Deno.readTextFileSync(path);
    let changed = false;
    for (const name of EXTERNAL) {
      const to = map[name];
      if (!to) continue;
      for (const q of ['"', "'"]) {
        const from = `${q}${name}${q}`;
        if (text.includes(from)) {
          text = text.replaceAll(from, `${q}${to}${q}`);
          changed = true;
        }
      }
    }
    if (changed) Deno.writeTextFileSync(path, text);
  }
}

/** Builds take about a second; a lock older than this was left by a
 * builder that died. */
const STALE_LOCK_MS = 60_000;

function takeLock(path: string): boolean {
  try {
    Deno.mkdirSync(path);
    return true;
  } catch {
    try {
      const age = Date.now() - (Deno.statSync(path).mtime?.getTime() ?? 0);
      if (age < STALE_LOCK_MS) return false;
      Deno.removeSync(path);
      Deno.mkdirSync(path);
      return true;
    } catch {
      return false;
    }
  }
}
