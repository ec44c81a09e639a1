// CNI installation, a task of the agent: the plugin names in
// <data-dir>/data/cni point at this very program, and the conflist goes to
// <data-dir>/agent/etc/cni/net.d/10-flannel.conflist (K3s's layout).
//
// On x86_64 and aarch64 Linux each name is weft's native launcher (src/cni/launcher/):
// a static executable of under a kilobyte that hands the operation to the
// agent over its socket - no Deno start on a pod's path - and, when no
// agent takes it, execs the plugin below (the compiled binary under the
// plugin's name, or deno running the bundled entry).
//
// Elsewhere, compiled (Deno.execPath() is weft itself) the names are
// absolute symlinks to the binary. From source (Deno.execPath() is deno) a symlink would start
// Deno's own CLI, so each name is a tiny /bin/sh wrapper that execs
// `deno run --no-config <entry> <name>`, where the entry is src/cni/main.ts
// (the thin client of the agent's CNI socket) bundled into one JavaScript
// file at install time (one module to load, no TypeScript, no config or
// lock file lookup: the fastest Deno start measured), with the skeleton and
// plugins - the client's fallback when no agent answers - bundled beside it,
// or, when `deno bundle` is unavailable, src/cni/main.ts itself. Either way
// every entry is replaced atomically (create under a temporary name, rename
// over), so a stale set - dangling links, regular files, wrong targets -
// never fails with "file exists" (k3s#10929).

import type { TaskContext } from "../supervisor/mod.ts";
import { untilAborted } from "../util/async.ts";
import type { Backend, CniChain } from "./config.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { sourceRoot } from "./source_bundle.ts";
import { hasLauncher, launcherImage } from "../cni/launcher/mod.ts";
import { AGENT_LOST_ARG, cniSocketPath, NO_AGENT_ARG } from "../cni/socket.ts";

export { CNI_PLUGINS as CNI_NAMES } from "../cni/argv0.ts";
import { CNI_PLUGINS as CNI_NAMES } from "../cni/argv0.ts";

/** The bundled plugin entry, beside the wrappers (hidden from runtimes). */
export const CNI_BUNDLE = ".weft-cni.js";
export { LOCAL_BUNDLE } from "../cni/main.ts";
import { LOCAL_BUNDLE } from "../cni/main.ts";

const FLANNEL_DELEGATE = {
  hairpinMode: true,
  forceAddress: true,
  isDefaultGateway: true,
};

/**
 * weft's default: one plugin, flannel, which applies the portMappings and
 * bandwidth capabilities itself after its bridge/host-local delegate - one
 * exec per pod operation instead of three.
 */
export const WEFT_CONFLIST = {
  name: "cbr0",
  cniVersion: "1.0.0",
  plugins: [
    {
      type: "flannel",
      capabilities: { portMappings: true, bandwidth: true },
      delegate: FLANNEL_DELEGATE,
    },
  ],
};

/** K3s's conflist: flannel (delegating to bridge), portmap, bandwidth. */
export const K3S_CONFLIST = {
  name: "cbr0",
  cniVersion: "1.0.0",
  plugins: [
    { type: "flannel", delegate: FLANNEL_DELEGATE },
    { type: "portmap", capabilities: { portMappings: true } },
    { type: "bandwidth", capabilities: { bandwidth: true } },
  ],
};

/** The generated conflist of a `--cni-chain` shape. */
export function defaultConflist(chain: CniChain = "weft") {
  return chain === "k3s" ? K3S_CONFLIST : WEFT_CONFLIST;
}

export interface CniInstallOptions {
  dataDir: string;
  backend: Backend;
  /** A user's conflist copied verbatim instead of the generated one. */
  flannelCniConf?: string;
  /** The generated conflist's shape (default "weft"). */
  cniChain?: CniChain;
  /** The running program (default Deno.execPath()). */
  execPath?: string;
  /** The plugin entry wrappers run from source (default src/cni/main.ts). */
  entry?: string;
  /** Bundle the entry for the wrappers (default true). */
  bundle?: boolean;
  /** Install the native launcher where it exists (default true). */
  launcher?: boolean;
}

export interface CniInstallResult {
  binDir: string;
  confDir: string;
  /** The conflist written, or null (backend none). */
  confFile: string | null;
  mode: InstallMode;
}

export class CniInstallError extends Error {
  override name = "CniInstallError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export function cniBinDir(dataDir: string): string {
  return `${dataDir}/data/cni`;
}

export function cniConfDir(dataDir: string): string {
  return `${dataDir}/agent/etc/cni/net.d`;
}

/** True when this process is a compiled weft (not `deno run`). */
export function isCompiled(execPath = Deno.execPath()): boolean {
  const base = execPath.slice(execPath.lastIndexOf("/") + 1);
  return base !== "deno";
}

function tmpName(dir: string, name: string): string {
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
  return `${dir}/.${name}.tmp-${Deno.pid}-${rand}`;
}

async function removeIfDir(path: string): Promise<void> {
  try {
    const st = await Deno.lstat(path);
    if (st.isDirectory) await Deno.remove(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Points `path` at `target` with a symlink, atomically. */
async function replaceSymlink(
  target: string,
  path: string,
): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  const tmp = tmpName(dir, path.slice(dir.length + 1));
  await removeIfDir(path);
  await Deno.symlink(target, tmp);
  try {
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Writes `data` to `path` atomically (util/fs.ts), replacing a directory
 * of that name. */
async function replaceFile(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> {
  await removeIfDir(path);
  await writeFileAtomic(path, data, { mode });
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** What a from-source wrapper runs: deno and the entry module. */
export interface Wrapper {
  deno: string;
  entry: string;
  name: string;
}

/**
 * The exec wrapper of plugin `name`. Of the `deno run` options measured
 * (bench/cni_bench.ts), --no-config is the one that matters for a module
 * (no deno.json, import map, lock file or npm resolution); --no-lock,
 * --no-npm, --no-remote and --cached-only changed nothing measurable.
 */
export function wrapperScript(w: Wrapper): string {
  return `#!/bin/sh\n# weft CNI plugin (from source)\nexec ${
    shellQuote(w.deno)
  } run -A -q --no-config ${shellQuote(w.entry)} ${w.name} "$@"\n`;
}

/** Splits a POSIX shell line written by shellQuote (single quotes, `'\\''`). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === " " || ch === "\t") {
      if (cur !== null) words.push(cur);
      cur = null;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return [];
      cur = (cur ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (ch === "\\" && i + 1 < line.length) {
      cur = (cur ?? "") + line[++i];
    } else cur = (cur ?? "") + ch;
  }
  if (cur !== null) words.push(cur);
  return words;
}

/** Reads back a wrapper this installer wrote (the older bash form too), or null. */
export function parseWrapper(text: string): Wrapper | null {
  const line = text.split("\n").find((l) => l.startsWith("exec "));
  const w = line ? shellWords(line) : [];
  if (w.length < 5 || w.at(-1) !== '"$@"') return null;
  if (w[1] === "-a") {
    // exec -a <name> <deno> run ... <main.ts> "$@"
    if (w[4] !== "run") return null;
    return { deno: w[3], entry: w.at(-2)!, name: w[2] };
  }
  // exec <deno> run ... <entry> <name> "$@"
  if (w[2] !== "run" || w.length < 6) return null;
  return { deno: w[1], entry: w.at(-3)!, name: w.at(-2)! };
}

function sourceEntry(): string {
  return `${sourceRoot()}src/cni/main.ts`;
}

/** Bundles `src` into `out` atomically; false when `deno bundle` fails. */
async function bundleOne(
  deno: string,
  src: string,
  out: string,
  signal: AbortSignal,
): Promise<boolean> {
  const dir = out.slice(0, out.lastIndexOf("/"));
  const tmp = tmpName(dir, out.slice(dir.length + 1));
  try {
    const r = await new Deno.Command(deno, {
      args: ["bundle", "--no-config", "--platform", "deno", "-o", tmp, src],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      signal,
    }).output();
    if (r.code !== 0) return false;
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, out);
    return true;
  } catch {
    return false;
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/**
 * Bundles the plugin entry into `binDir/.weft-cni.js` - the thin client -
 * and the skeleton with every plugin, its in-process fallback, into
 * `binDir/.weft-cni-local.js` (the entry finds it beside itself), each
 * atomically; null when `deno bundle` fails (e.g. esbuild not cached and no
 * registry), so the wrappers run the TypeScript entry instead.
 */
export async function bundleEntry(
  binDir: string,
  deno: string,
  entry = sourceEntry(),
  signal?: AbortSignal,
): Promise<string | null> {
  const timeout = AbortSignal.timeout(60_000);
  const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const local = `${sourceRoot()}src/cni/skel.ts`;
  if (!await bundleOne(deno, local, `${binDir}/${LOCAL_BUNDLE}`, sig)) {
    return null;
  }
  const out = `${binDir}/${CNI_BUNDLE}`;
  return await bundleOne(deno, entry, out, sig) ? out : null;
}

/**
 * How the plugin names are installed: the native launcher (x86_64 and aarch64 Linux:
 * no Deno start on a pod's path while the agent serves), else a symlink to
 * the compiled binary or a /bin/sh wrapper from source.
 */
export type InstallMode = "launcher" | "symlink" | "wrapper";

/** The `deno run` options of a from-source plugin start (see wrapperScript). */
const DENO_RUN = ["run", "-A", "-q", "--no-config"];

/**
 * What the launcher of `name` execs when the agent does not take an
 * operation: the compiled binary under the plugin's name, or deno running
 * the entry; `extra` says why (NO_AGENT_ARG, AGENT_LOST_ARG).
 */
export function fallbackArgv(
  execPath: string,
  entry: string,
  name: string,
  extra: string,
): string[] {
  return isCompiled(execPath)
    ? [name, extra]
    : [execPath, ...DENO_RUN, entry, name, extra];
}

/** Points every plugin name in `binDir` at this program, atomically. */
export async function installPlugins(
  binDir: string,
  execPath = Deno.execPath(),
  source: { entry?: string; bundle?: boolean; launcher?: boolean } = {},
): Promise<InstallMode> {
  const compiled = isCompiled(execPath);
  const mode: InstallMode = source.launcher !== false && hasLauncher()
    ? "launcher"
    : compiled
    ? "symlink"
    : "wrapper";
  try {
    await Deno.mkdir(binDir, { recursive: true });
    let entry = source.entry ?? sourceEntry();
    if (!compiled && source.bundle !== false) {
      entry = await bundleEntry(binDir, execPath, entry) ?? entry;
    }
    const socket = cniSocketPath(Deno.env.toObject());
    for (const name of CNI_NAMES) {
      const path = `${binDir}/${name}`;
      if (mode === "launcher") {
        const image = launcherImage({
          socket,
          exec: execPath,
          argv: fallbackArgv(execPath, entry, name, NO_AGENT_ARG),
          lostArgv: fallbackArgv(execPath, entry, name, AGENT_LOST_ARG),
        });
        await replaceFile(path, image, 0o755);
      } else if (mode === "symlink") await replaceSymlink(execPath, path);
      else {
        await replaceFile(
          path,
          wrapperScript({ deno: execPath, entry, name }),
          0o755,
        );
      }
    }
  } catch (e) {
    throw new CniInstallError(
      `cannot install the CNI plugins in ${binDir}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return mode;
}

/** Installs the plugin names and the conflist; safe to repeat. */
export async function installCni(
  opts: CniInstallOptions,
): Promise<CniInstallResult> {
  const binDir = cniBinDir(opts.dataDir);
  const confDir = cniConfDir(opts.dataDir);
  const mode = await installPlugins(
    binDir,
    opts.execPath ?? Deno.execPath(),
    opts,
  );
  await Deno.mkdir(confDir, { recursive: true });
  const confFile = `${confDir}/10-flannel.conflist`;
  if (opts.backend === "none") {
    return { binDir, confDir, confFile: null, mode };
  }
  let content: string;
  if (opts.flannelCniConf) {
    try {
      content = await Deno.readTextFile(opts.flannelCniConf);
    } catch (e) {
      throw new CniInstallError(
        `cannot read --flannel-cni-conf ${opts.flannelCniConf}: ${
          (e as Error).message
        }`,
        { cause: e },
      );
    }
  } else {
    content = JSON.stringify(defaultConflist(opts.cniChain), null, 2) + "\n";
  }
  await replaceFile(confFile, content, 0o644);
  return { binDir, confDir, confFile, mode };
}

/** The agent's CNI installer task: install, report ready, wait for stop. */
export async function runCniInstaller(
  opts: CniInstallOptions,
  ctx: TaskContext,
): Promise<void> {
  // Wrappers first (running src/cni/main.ts), ready at once; the bundle,
  // which may need to fetch esbuild once, replaces their entry afterwards.
  const r = await installCni({ ...opts, bundle: false });
  ctx.log(
    `installed ${CNI_NAMES.length} plugins (${r.mode}s) in ${r.binDir}` +
      (r.confFile
        ? `, conflist ${r.confFile}`
        : ", no conflist (backend none)"),
  );
  ctx.ready();
  const deno = opts.execPath ?? Deno.execPath();
  if (!isCompiled(deno) && opts.bundle !== false) {
    const entry = await bundleEntry(r.binDir, deno, opts.entry, ctx.signal);
    if (entry && !ctx.signal.aborted) {
      await installPlugins(r.binDir, deno, {
        entry,
        bundle: false,
        launcher: opts.launcher,
      });
      ctx.log(`the plugin wrappers run the bundled entry ${entry}`);
    } else if (!ctx.signal.aborted) {
      ctx.log("deno bundle failed: the plugin wrappers run src/cni/main.ts");
    }
  }
  await untilAborted(ctx.signal);
}
