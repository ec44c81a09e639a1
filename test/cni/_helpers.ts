// Helpers for the CNI tests: run a plugin in process (through the same
// skeleton an exec'd plugin uses) or as a real process started under its
// CNI name, and write tiny script plugins into a temp CNI_PATH.

import { type PluginIO, runPlugin } from "../../src/cni/mod.ts";

export const MAIN = new URL("../../main.ts", import.meta.url).pathname;
export const REFERENCE_DIR = "/usr/lib/cni";

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The parsed stdout of a run (throws with the output when it is not JSON). */
export function json<T = Record<string, unknown>>(
  r: { code: number; stdout: string; stderr?: string },
): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout} ${r.stderr ?? ""}`);
  }
}

/** Runs plugin `name` in this process through the skeleton. */
export async function runIn(
  name: string,
  env: Record<string, string>,
  stdin: unknown = "",
): Promise<PluginRun> {
  let stdout = "", stderr = "";
  const text = typeof stdin === "string" ? stdin : JSON.stringify(stdin);
  const io: PluginIO = {
    env,
    readStdin: () => Promise.resolve(new TextEncoder().encode(text)),
    stdout: (t) => stdout += t,
    stderr: (t) => stderr += t,
  };
  const code = await runPlugin(name, io);
  return { code, stdout, stderr };
}

/** Runs weft as a process whose argv0 is `name` (as a runtime execs it). */
export async function runExec(
  name: string,
  env: Record<string, string>,
  stdin: unknown = "",
): Promise<PluginRun> {
  const text = typeof stdin === "string" ? stdin : JSON.stringify(stdin);
  const child = new Deno.Command("bash", {
    args: ["-c", `exec -a ${name} "${Deno.execPath()}" run -A "${MAIN}"`],
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Runs a reference plugin from /usr/lib/cni. */
export async function runReference(
  name: string,
  env: Record<string, string>,
  stdin: unknown,
): Promise<PluginRun> {
  const child = new Deno.Command(`${REFERENCE_DIR}/${name}`, {
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(stdin)));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** CNI_* environment of one call. */
export function cniEnv(
  command: string,
  o: {
    cid?: string;
    netns?: string;
    ifname?: string;
    path?: string;
    args?: string;
  } = {},
): Record<string, string> {
  const env: Record<string, string> = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: o.cid ?? "c1",
    CNI_IFNAME: o.ifname ?? "eth0",
    CNI_PATH: o.path ?? "/nonexistent",
  };
  if (o.netns !== undefined) env.CNI_NETNS = o.netns;
  if (o.args !== undefined) env.CNI_ARGS = o.args;
  return env;
}

/** Writes an executable bash plugin `name` into `dir`. */
export async function scriptPlugin(
  dir: string,
  name: string,
  body: string,
): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  return path;
}

/** Names of the files in a directory (sorted; [] when it does not exist). */
export function filesIn(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}
