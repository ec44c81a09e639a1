// Helpers for the CNI tests: run a plugin in process (through the same
// skeleton an exec'd plugin uses) or as a real process started under its
// CNI name, write tiny script plugins into a temp CNI_PATH, and run a pod
// operation through the exec'ing runtime as a container runtime does.

import { assertEquals } from "@std/assert";
import { type PluginIO, runPlugin } from "../../src/cni/mod.ts";
import type { Netns, RunResult } from "../harness/netns.ts";
import { CNI_SOCKET_ENV } from "../../src/cni/socket.ts";
import { REFERENCE_DIR, runCleanEnv, weftAs } from "../harness/cni_ns.ts";

export { MAIN, REFERENCE_DIR } from "../harness/cni_ns.ts";

export type PluginRun = RunResult;

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
export function runExec(
  name: string,
  env: Record<string, string>,
  stdin: unknown = "",
): Promise<PluginRun> {
  const text = typeof stdin === "string" ? stdin : JSON.stringify(stdin);
  return runCleanEnv(
    weftAs(name),
    { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    text,
  );
}

/** Runs a reference plugin from /usr/lib/cni. */
export function runReference(
  name: string,
  env: Record<string, string>,
  stdin: unknown,
): Promise<PluginRun> {
  return runCleanEnv(
    [`${REFERENCE_DIR}/${name}`],
    env,
    JSON.stringify(stdin),
  );
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

/** host-local's address files (named after the IP) in a network's dir. */
export function ipFiles(dir: string): string[] {
  return filesIn(dir).filter((n) => /^\d/.test(n));
}

/**
 * Writes `subnet.env` (flannel's lease `subnet` of 10.42.0.0/16) and the
 * K3s conflist "cbr0" — flannel with K3s's delegate options, then `chained`
 * — into `dir`; returns the conflist's path.
 */
export function writeK3sConflist(
  dir: string,
  file: string,
  subnet: string,
  chained: Record<string, unknown>[],
): string {
  Deno.writeTextFileSync(
    `${dir}/subnet.env`,
    `FLANNEL_NETWORK=10.42.0.0/16\nFLANNEL_SUBNET=${subnet}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`,
  );
  const path = `${dir}/${file}`;
  Deno.writeTextFileSync(
    path,
    JSON.stringify({
      name: "cbr0",
      cniVersion: "1.0.0",
      plugins: [
        {
          type: "flannel",
          subnetFile: `${dir}/subnet.env`,
          dataDir: `${dir}/flannel`,
          ipam: { dataDir: `${dir}/ipam` },
          delegate: {
            hairpinMode: true,
            forceAddress: true,
            isDefaultGateway: true,
          },
        },
        ...chained,
      ],
    }),
  );
  return path;
}

const CNI_EXEC = new URL("./_cni_exec.ts", import.meta.url).pathname;

/** A pod operation through the exec'ing runtime (./_cni_exec.ts). */
export interface ExecCni {
  verb: "add" | "del" | "check" | "status" | "gc";
  conflist: string;
  bin: string;
  cache: string;
  netns: string;
  cid: string;
  /** The agent's socket the plugins are pointed at (WEFT_CNI_SOCKET). */
  socket: string;
  /** Capability arguments (runtime config), JSON; default none. */
  caps?: string;
  /** CNI_ARGS; default none. */
  args?: string;
}

/**
 * Runs `op` inside `host` as a container runtime does (every plugin
 * exec'd from `op.bin`); fails the test unless it succeeds; its stdout.
 */
export async function execCni(host: Netns, op: ExecCni): Promise<string> {
  const r = await host.run([
    Deno.execPath(),
    "run",
    "-A",
    CNI_EXEC,
    op.verb,
    op.conflist,
    op.bin,
    op.cache,
    op.netns,
    op.cid,
    op.caps ?? "{}",
    op.args ?? "",
  ], { env: { [CNI_SOCKET_ENV]: op.socket } });
  assertEquals(r.code, 0, `${op.verb} ${op.cid}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}
