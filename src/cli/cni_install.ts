// CNI installation, a task of the agent: the plugin names in
// <data-dir>/data/cni point at this very program, and the conflist goes to
// <data-dir>/agent/etc/cni/net.d/10-flannel.conflist (K3s's layout).
//
// Compiled (Deno.execPath() is weft itself) the names are absolute symlinks
// to the binary. From source (Deno.execPath() is deno) a symlink would start
// Deno's own CLI, so each name is a tiny bash wrapper that execs
// `deno run main.ts` with argv[0] set to the plugin name (dash, Debian's
// /bin/sh, has no `exec -a`). Either way every entry is replaced atomically
// (create under a temporary name, rename over), so a stale set — dangling
// links, regular files, wrong targets — never fails with "file exists"
// (k3s#10929).

import { type TaskContext, untilAborted } from "../supervisor/mod.ts";
import type { Backend, CniChain } from "./config.ts";

export const CNI_NAMES = [
  "flannel",
  "bridge",
  "host-local",
  "portmap",
  "bandwidth",
  "loopback",
] as const;

const FLANNEL_DELEGATE = {
  hairpinMode: true,
  forceAddress: true,
  isDefaultGateway: true,
};

/**
 * weft's default: one plugin, flannel, which applies the portMappings and
 * bandwidth capabilities itself after its bridge/host-local delegate — one
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
  /** main.ts, for wrappers when running from source. */
  mainModule?: string;
  /** deno.json, passed to `deno run --config` by the wrappers. */
  denoConfig?: string;
}

export interface CniInstallResult {
  binDir: string;
  confDir: string;
  /** The conflist written, or null (backend none). */
  confFile: string | null;
  mode: "symlink" | "wrapper";
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

/** Writes `data` to `path` atomically (temp file, fsync, rename). */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  const tmp = tmpName(dir, path.slice(dir.length + 1));
  await removeIfDir(path);
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  try {
    using f = await Deno.open(tmp, { write: true, createNew: true, mode });
    let off = 0;
    while (off < bytes.length) off += await f.write(bytes.subarray(off));
    await f.sync();
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The exec wrapper that runs main.ts under the plugin's name. */
function wrapperScript(
  name: string,
  deno: string,
  mainModule: string,
  denoConfig?: string,
): string {
  const cfg = denoConfig ? ` --config ${shellQuote(denoConfig)}` : "";
  return `#!/bin/bash\nexec -a ${name} ${shellQuote(deno)} run -A -q${cfg} ${
    shellQuote(mainModule)
  } "$@"\n`;
}

function defaultMain(): { main: string; config: string } {
  return {
    main: new URL("../../main.ts", import.meta.url).pathname,
    config: new URL("../../deno.json", import.meta.url).pathname,
  };
}

/** Points every plugin name in `binDir` at this program, atomically. */
export async function installPlugins(
  binDir: string,
  execPath = Deno.execPath(),
  source: { mainModule?: string; denoConfig?: string } = {},
): Promise<"symlink" | "wrapper"> {
  const mode = isCompiled(execPath) ? "symlink" : "wrapper";
  const src = defaultMain();
  const main = source.mainModule ?? src.main;
  const config = source.mainModule
    ? source.denoConfig
    : (source.denoConfig ?? src.config);
  try {
    await Deno.mkdir(binDir, { recursive: true });
    for (const name of CNI_NAMES) {
      const path = `${binDir}/${name}`;
      if (mode === "symlink") await replaceSymlink(execPath, path);
      else {
        await writeFileAtomic(
          path,
          wrapperScript(name, execPath, main, config),
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
  await writeFileAtomic(confFile, content, 0o644);
  return { binDir, confDir, confFile, mode };
}

/** The agent's CNI installer task: install, report ready, wait for stop. */
export async function runCniInstaller(
  opts: CniInstallOptions,
  ctx: TaskContext,
): Promise<void> {
  const r = await installCni(opts);
  ctx.log(
    `installed ${CNI_NAMES.length} plugins (${r.mode}s) in ${r.binDir}` +
      (r.confFile
        ? `, conflist ${r.confFile}`
        : ", no conflist (backend none)"),
  );
  ctx.ready();
  await untilAborted(ctx.signal);
}
