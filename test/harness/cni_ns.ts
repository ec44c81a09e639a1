// Runs a CNI plugin as a process inside a test "host" namespace — weft's
// (main.ts started under the plugin's name) or the reference build from
// /usr/lib/cni — so every link, sysctl and netfilter rule it makes lands in
// that namespace and never in the machine's own.

import type { Netns } from "./netns.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
export const REFERENCE_DIR = "/usr/lib/cni";

export interface CniRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CniCall {
  /** "weft" runs main.ts under `plugin`'s name, "reference" /usr/lib/cni. */
  impl: "weft" | "reference";
  plugin: string;
  command: string;
  containerId: string;
  netns: string;
  ifname: string;
  config: unknown;
  args?: string;
}

/** Runs one plugin call inside `host`. */
export async function cniRun(host: Netns, call: CniCall): Promise<CniRun> {
  const inner = call.impl === "weft"
    ? [
      "bash",
      "-c",
      `exec -a ${call.plugin} "${Deno.execPath()}" run -A "${MAIN}"`,
    ]
    : [`${REFERENCE_DIR}/${call.plugin}`];
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: call.ifname,
    CNI_PATH: REFERENCE_DIR,
  };
  if (call.args) env.CNI_ARGS = call.args;
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", host.name, ...inner],
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(call.config)));
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** The JSON a run printed; throws with its output when it did not succeed. */
export function okJson<T = Record<string, unknown>>(r: CniRun): T {
  if (r.code !== 0) {
    throw new Error(`plugin exited ${r.code}: ${r.stdout} ${r.stderr}`);
  }
  return (r.stdout.trim() === "" ? {} : JSON.parse(r.stdout)) as T;
}
