// Runs a CNI plugin as a process inside a test "host" namespace — weft's
// (main.ts started under the plugin's name) or the reference build from
// /usr/lib/cni — so every link, sysctl and netfilter rule it makes lands in
// that namespace and never in the machine's own.

import { Netns, run, type RunResult } from "./netns.ts";

export const MAIN = new URL("../../main.ts", import.meta.url).pathname;
export const REFERENCE_DIR = "/usr/lib/cni";

export type CniRun = RunResult;

/** The command line that starts weft (main.ts) with argv0 `name`. */
export function weftAs(name: string): string[] {
  return [
    "bash",
    "-c",
    `exec -a ${name} "${Deno.execPath()}" run -A "${MAIN}"`,
  ];
}

/** Runs `cmd` with exactly `env` (nothing inherited) and `stdin` as input. */
export function runCleanEnv(
  cmd: string[],
  env: Record<string, string>,
  stdin: string,
): Promise<RunResult> {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return run(["env", "-i", ...vars, ...cmd], { stdin });
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
export function cniRun(host: Netns, call: CniCall): Promise<CniRun> {
  const plugin = call.impl === "weft"
    ? weftAs(call.plugin)
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
  return runCleanEnv(
    ["ip", "netns", "exec", host.name, ...plugin],
    env,
    JSON.stringify(call.config),
  );
}

/** The bridge config the tests chain after: cni0 as gateway, host-local 10.22.0.0/24. */
export function bridgeConf(
  dataDir: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    cniVersion: "1.0.0",
    name: "mynet",
    type: "bridge",
    bridge: "cni0",
    isGateway: true,
    ipam: { type: "host-local", subnet: "10.22.0.0/24", dataDir },
    ...extra,
  };
}

/** A container `cont` attached by bridge to `host`, for a chained plugin. */
export interface BridgedPod<R = Record<string, unknown>>
  extends AsyncDisposable {
  host: Netns;
  cont: Netns;
  /** The temp dir holding host-local's state. */
  dir: string;
  /** The bridge ADD result (container "ctr1", "eth0"). */
  prev: R;
  /** A call of `plugin` for this container. */
  call(
    plugin: string,
    command: string,
    config: unknown,
    impl?: "weft" | "reference",
  ): CniCall;
}

/** Makes host and container namespaces and runs bridge ADD (by `impl`). */
export async function bridgedPod<R = Record<string, unknown>>(
  tag: string,
  impl: "weft" | "reference" = "weft",
  bridgeExtra: Record<string, unknown> = {},
): Promise<BridgedPod<R>> {
  const host = await Netns.create(`${tag}h`);
  const cont = await Netns.create(`${tag}c`);
  const dir = await Deno.makeTempDir({ prefix: `weft-t-${tag}-` });
  const dispose = async () => {
    await Deno.remove(dir, { recursive: true });
    await cont[Symbol.asyncDispose]();
    await host[Symbol.asyncDispose]();
  };
  const call = (
    plugin: string,
    command: string,
    config: unknown,
    by: "weft" | "reference" = "weft",
  ): CniCall => ({
    impl: by,
    plugin,
    command,
    containerId: "ctr1",
    netns: cont.path,
    ifname: "eth0",
    config,
  });
  try {
    const prev = okJson<R>(
      await cniRun(
        host,
        call("bridge", "ADD", bridgeConf(dir, bridgeExtra), impl),
      ),
    );
    return { host, cont, dir, prev, call, [Symbol.asyncDispose]: dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** Names of the veth devices in `ns`. */
export async function veths(ns: Netns): Promise<string[]> {
  const links = await ns.json<{ ifname: string }[]>(
    "ip",
    "-j",
    "link",
    "show",
    "type",
    "veth",
  );
  return links.map((l) => l.ifname);
}

/** The JSON a run printed; throws with its output when it did not succeed. */
export function okJson<T = Record<string, unknown>>(r: CniRun): T {
  if (r.code !== 0) {
    throw new Error(`plugin exited ${r.code}: ${r.stdout} ${r.stderr}`);
  }
  return (r.stdout.trim() === "" ? {} : JSON.parse(r.stdout)) as T;
}

/** A one-shot TCP server (a Deno child) inside `ns` that answers `reply`. */
export interface TcpServer extends AsyncDisposable {
  /** Resolves once the server has answered one connection and exited. */
  done: Promise<Deno.CommandStatus>;
}

/** Starts a server on `host:port` in `ns`; resolves once it is listening. */
export async function tcpServe(
  ns: Netns,
  host: string,
  port: number,
  reply: string,
): Promise<TcpServer> {
  const code = `const l = Deno.listen({ hostname: ${
    JSON.stringify(host)
  }, port: ${port} });
console.log("listening");
const c = await l.accept();
await c.write(new TextEncoder().encode(${JSON.stringify(reply)}));
c.close(); l.close();`;
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns.name, Deno.execPath(), "eval", code],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const first = await reader.read();
  if (!first.value?.includes("listening")) {
    child.kill();
    throw new Error(`tcp server on ${host}:${port} did not start`);
  }
  reader.releaseLock();
  const done = child.status;
  return {
    done,
    async [Symbol.asyncDispose]() {
      try {
        child.kill();
      } catch { /* already exited */ }
      await done;
      await child.stdout.cancel().catch(() => {});
    },
  };
}

/** Connects from `ns` to `host:port` (bash /dev/tcp) and returns what it read. */
export async function tcpFetch(
  ns: Netns,
  host: string,
  port: number,
): Promise<string> {
  const r = await ns.run([
    "timeout",
    "5",
    "bash",
    "-c",
    `exec 3<>/dev/tcp/${host}/${port}; cat <&3`,
  ]);
  if (r.code !== 0) {
    throw new Error(`connect ${host}:${port} failed: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** `iptables-save` of a table without comments and counters. */
export async function natRules(ns: Netns, v6 = false): Promise<string[]> {
  const out = await ns.sh(v6 ? "ip6tables-save" : "iptables-save", "-t", "nat");
  return out.split("\n").filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
}

interface IpLink {
  ifname: string;
  mtu: number;
  master?: string;
  linkinfo?: { info_kind?: string };
  address?: string;
}
interface IpAddr {
  ifname: string;
  addr_info: {
    family: string;
    local: string;
    prefixlen: number;
    scope: string;
  }[];
}

/**
 * A comparable picture of a namespace's links, addresses and routes:
 * veth names become "veth*", link-local addresses and MACs are left out.
 */
export async function netSnapshot(ns: Netns): Promise<Record<string, unknown>> {
  const norm = (n?: string) => n?.replace(/^veth[0-9a-f]{8}$/, "veth*");
  const links = (await ns.json<IpLink[]>("ip", "-j", "-d", "link", "show"))
    .map((l) => ({
      name: norm(l.ifname),
      kind: l.linkinfo?.info_kind ?? null,
      mtu: l.mtu,
      master: norm(l.master) ?? null,
    })).sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const addrs = (await ns.json<IpAddr[]>("ip", "-j", "addr", "show"))
    .flatMap((a) =>
      a.addr_info.filter((i) => i.scope !== "link").map((i) =>
        `${norm(a.ifname)} ${i.local}/${i.prefixlen}`
      )
    ).sort();
  const routes =
    (await ns.json<Record<string, unknown>[]>("ip", "-j", "route", "show"))
      .map((r) => `${r.dst} via ${r.gateway ?? "-"} dev ${norm(String(r.dev))}`)
      .sort();
  return { links, addrs, routes };
}

/** Whether one ICMP echo from `ns` to `addr` is answered (within 2 s). */
export async function pings(ns: Netns, addr: string): Promise<boolean> {
  const r = await ns.run(["ping", "-n", "-c", "1", "-W", "2", addr]);
  return r.code === 0;
}

/**
 * Polls `probe` (every 100 ms, at most 10 s) until `done` holds, and returns
 * its last value: for what the kernel finishes on its own time, such as the
 * devices of a deleted namespace (netns cleanup runs in a workqueue).
 */
export async function settled<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
): Promise<T> {
  let value = await probe();
  for (let i = 0; i < 100 && !done(value); i++) {
    await new Promise((r) => setTimeout(r, 100));
    value = await probe();
  }
  return value;
}

/** One object of `nft -j` output ({chain: {...}}, {rule: {...}}, ...). */
export type NftObject = Record<string, Record<string, unknown>>;

/** The objects of `nft -j list table <family> <name>` inside `ns`. */
export async function nftTable(
  ns: Netns,
  family: string,
  name: string,
): Promise<NftObject[]> {
  const doc = await ns.json<{ nftables: NftObject[] }>(
    "nft",
    "-j",
    "list",
    "table",
    family,
    name,
  );
  return doc.nftables;
}

/** The IPv4 addresses ("10.22.0.2/24") of `dev` in `ns`. */
export async function ipv4Addrs(ns: Netns, dev: string): Promise<string[]> {
  const [link] = await ns.json<
    { addr_info: { local: string; prefixlen: number }[] }[]
  >("ip", "-j", "-4", "addr", "show", "dev", dev);
  return (link?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}
