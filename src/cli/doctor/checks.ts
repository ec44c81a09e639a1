// The checks of `weft doctor`. Each returns a result with a one-line fix;
// the ones that can be repaired carry a `repair` that --fix runs. All of
// them can be pointed at a network namespace (--netns) and a data dir.

import {
  CNI_NAMES,
  cniBinDir,
  cniConfDir,
  parseWrapper,
} from "../cni_install.ts";
import { exec } from "../exec.ts";
import { readLauncher } from "../../cni/launcher/mod.ts";

export type Verdict = "ok" | "warn" | "fail";

export interface CheckResult {
  name: string;
  verdict: Verdict;
  detail: string;
  /** One line telling the operator what to do (absent when ok). */
  fix?: string;
  /** What --fix runs; returns a line describing what it did. */
  repair?: () => Promise<string>;
}

export interface DoctorEnv {
  /** Network namespace path; undefined = this process's. */
  netns?: string;
  dataDir: string;
  /** Where flannel's VXLAN device is expected. */
  vxlanDev: string;
  /** flannel's IPv6 VXLAN device (default flannel-v6.1). */
  vxlanDev6?: string;
  /** Where flannel writes subnet.env (default /run/flannel). */
  runDir?: string;
}

export type Family = 4 | 6;

/**
 * The IP families this node's pods use: from flannel's subnet.env when it
 * exists (FLANNEL_NETWORK / FLANNEL_IPV6_NETWORK), else the families with a
 * default route in the namespace (as node-ip detection), else IPv4.
 */
export async function nodeFamilies(env: DoctorEnv): Promise<Family[]> {
  const text = await Deno.readTextFile(
    `${env.runDir ?? "/run/flannel"}/subnet.env`,
  ).catch(() => "");
  const out: Family[] = [];
  if (text) {
    const v4 = text.match(/^FLANNEL_NETWORK=(\S+)$/m)?.[1];
    if (v4 && v4 !== "0.0.0.0/0") out.push(4);
    if (/^FLANNEL_IPV6_NETWORK=\S+$/m.test(text)) out.push(6);
    if (out.length) return out;
  }
  for (const f of [4, 6] as const) {
    if (await defaultRouteDev(env, f)) out.push(f);
  }
  return out.length ? out : [4];
}

/** argv prefix that runs a command inside the target network namespace. */
function inNs(env: DoctorEnv, cmd: string[]): string[] {
  return env.netns ? ["nsenter", `--net=${env.netns}`, "--", ...cmd] : cmd;
}

function readSysctl(env: DoctorEnv, key: string): Promise<string | null> {
  return exec(inNs(env, ["cat", `/proc/sys/${key.replaceAll(".", "/")}`]))
    .then((r) => (r.code === 0 ? r.stdout.trim() : null));
}

async function writeSysctl(
  env: DoctorEnv,
  key: string,
  value: string,
): Promise<void> {
  const r = await exec(inNs(env, ["sysctl", "-qw", `${key}=${value}`]));
  if (r.code !== 0) {
    throw new Error(`sysctl -w ${key}=${value}: ${r.stderr.trim()}`);
  }
}

export async function checkLibnl(env: DoctorEnv): Promise<CheckResult> {
  try {
    const { Netlink } = await import("../../../ffi/mod.ts");
    using nl = Netlink.open({ netns: env.netns });
    nl.linkList();
    return {
      name: "libnl",
      verdict: "ok",
      detail: "libnl-3 and libnl-route-3 load and answer",
    };
  } catch (e) {
    return {
      name: "libnl",
      verdict: "fail",
      detail: (e as Error).message.split("\n")[0],
      fix:
        "apt-get install libnl-3-200 libnl-route-3-200 libnl-genl-3-200 (or set WEFT_LIBNL_DIR)",
    };
  }
}

/** Probes a kernel feature in a throwaway network namespace. */
async function probe(cmd: string): Promise<{ ok: boolean; err: string }> {
  const r = await exec(["unshare", "--net", "bash", "-c", cmd]);
  return {
    ok: r.code === 0,
    err: (r.stderr || r.stdout).trim().split("\n")[0] ?? "",
  };
}

export async function checkKernel(): Promise<CheckResult[]> {
  const features: [string, string, Verdict, string][] = [
    [
      "vxlan",
      "ip link add t0 type vxlan id 1 dstport 8472",
      "fail",
      "load the vxlan module (modprobe vxlan) or use --flannel-backend host-gw",
    ],
    [
      "bridge",
      "ip link add t0 type bridge",
      "fail",
      "load the bridge module (modprobe bridge); the bridge CNI plugin needs it",
    ],
    [
      "netfilter NAT",
      "iptables -w -t nat -S POSTROUTING",
      "fail",
      "load nf_nat and iptable_nat (or nft_chain_nat); ip-masq and portmap need them",
    ],
    [
      // weft's wireguard-native backend drives wireguard-go over a TUN
      // device (no kernel module needed, none is used).
      "wireguard",
      "command -v wireguard-go >/dev/null || { echo 'wireguard-go not on PATH'; exit 1; }; " +
      "test -c /dev/net/tun || { echo '/dev/net/tun missing (modprobe tun)'; exit 1; }",
      "warn",
      "only --flannel-backend wireguard-native needs it: apt-get install wireguard-go (and modprobe tun), or keep vxlan",
    ],
  ];
  const out: CheckResult[] = [];
  for (const [what, cmd, bad, fix] of features) {
    const r = await probe(cmd);
    const name = what === "wireguard" ? "wireguard-go" : `kernel ${what}`;
    out.push(
      r.ok ? { name, verdict: "ok", detail: "supported" } : {
        name,
        verdict: bad,
        detail: `not available: ${r.err}`,
        fix,
      },
    );
  }
  return out;
}

const FORWARD: Record<Family, string> = {
  4: "net.ipv4.ip_forward",
  6: "net.ipv6.conf.all.forwarding",
};

/** IP forwarding for a family: needed when the node's pods use it. */
export async function checkIpForward(
  env: DoctorEnv,
  family: Family = 4,
  families?: Family[],
): Promise<CheckResult> {
  const key = FORWARD[family];
  const name = family === 4 ? "ip_forward" : "ipv6 forwarding";
  const v = await readSysctl(env, key);
  if (v === "1") return { name, verdict: "ok", detail: `${key}=1` };
  const used = families ?? await nodeFamilies(env);
  if (!used.includes(family)) {
    return {
      name,
      verdict: "ok",
      detail: `${key}=${
        v ?? "unreadable"
      }; not needed: no IPv${family} pods here`,
    };
  }
  return {
    name,
    verdict: "fail",
    detail: `${key}=${
      v ?? "unreadable"
    }: IPv${family} pods cannot reach other nodes`,
    fix: `sysctl -w ${key}=1 (and persist it in /etc/sysctl.d/)`,
    repair: async () => {
      await writeSysctl(env, key, "1");
      return `set ${key}=1`;
    },
  };
}

export async function checkBridgeNf(env: DoctorEnv): Promise<CheckResult> {
  const v = await readSysctl(env, "net.bridge.bridge-nf-call-iptables");
  if (v === null) {
    return {
      name: "bridge-nf-call-iptables",
      verdict: "warn",
      detail: "br_netfilter is not loaded: bridged pod traffic skips iptables",
      fix:
        "modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1",
    };
  }
  if (v === "1") {
    return {
      name: "bridge-nf-call-iptables",
      verdict: "ok",
      detail: "net.bridge.bridge-nf-call-iptables=1",
    };
  }
  return {
    name: "bridge-nf-call-iptables",
    verdict: "warn",
    detail:
      "net.bridge.bridge-nf-call-iptables=0: bridged pod traffic skips iptables",
    fix: "sysctl -w net.bridge.bridge-nf-call-iptables=1",
    repair: async () => {
      await writeSysctl(env, "net.bridge.bridge-nf-call-iptables", "1");
      return "set net.bridge.bridge-nf-call-iptables=1";
    },
  };
}

async function linkJson(env: DoctorEnv, dev?: string): Promise<
  {
    ifname: string;
    mtu: number;
    link_index?: number;
    linkinfo?: { info_kind?: string; info_data?: { link?: string } };
  }[]
> {
  const r = await exec(
    inNs(env, ["ip", "-j", "-d", "link", "show", ...(dev ? ["dev", dev] : [])]),
  );
  if (r.code !== 0) return [];
  return JSON.parse(r.stdout || "[]");
}

export async function checkChecksumOffload(
  env: DoctorEnv,
  family: Family = 4,
): Promise<CheckResult> {
  const dev = vxlanDevOf(env, family);
  const name = `${dev} tx checksum offload`;
  if ((await linkJson(env, dev)).length === 0) {
    return {
      name,
      verdict: "ok",
      detail: `no ${dev} (nothing to check until flannel runs)`,
    };
  }
  const r = await exec(inNs(env, ["ethtool", "-k", dev]));
  if (r.code !== 0) {
    return {
      name,
      verdict: "warn",
      detail: `ethtool -k ${dev} failed: ${r.stderr.trim()}`,
      fix: "apt-get install ethtool",
    };
  }
  const on = /^tx-checksumming:\s*on/m.test(r.stdout);
  if (!on) return { name, verdict: "ok", detail: "tx checksumming is off" };
  return {
    name,
    verdict: "warn",
    detail:
      "tx checksumming is on: some kernels drop VXLAN packets with bad UDP checksums (k3s#2013)",
    fix: `ethtool -K ${dev} tx-checksum-ip-generic off`,
    repair: async () => {
      const f = await exec(
        inNs(env, ["ethtool", "-K", dev, "tx-checksum-ip-generic", "off"]),
      );
      if (f.code !== 0) {
        throw new Error(`ethtool -K ${dev}: ${f.stderr.trim()}`);
      }
      return `turned tx checksumming off on ${dev}`;
    },
  };
}

async function defaultRouteDev(
  env: DoctorEnv,
  family: Family = 4,
): Promise<string | undefined> {
  const r = await exec(
    inNs(env, ["ip", `-${family}`, "-j", "route", "show", "default"]),
  );
  if (r.code !== 0) return undefined;
  const routes = JSON.parse(r.stdout || "[]") as { dev?: string }[];
  return routes.find((x) => x.dev)?.dev;
}

/** flannel's VXLAN overhead: 50 bytes over IPv4 (flannel.1), 70 over
 * IPv6 (flannel-v6.1). */
const VXLAN_OVERHEAD: Record<Family, number> = { 4: 50, 6: 70 };

/** The VXLAN device of a family. */
export function vxlanDevOf(env: DoctorEnv, family: Family): string {
  return family === 4 ? env.vxlanDev : env.vxlanDev6 ?? "flannel-v6.1";
}

export async function checkVxlanMtu(
  env: DoctorEnv,
  family: Family = 4,
): Promise<CheckResult> {
  const dev = vxlanDevOf(env, family);
  const overhead = VXLAN_OVERHEAD[family];
  const name = `${dev} MTU`;
  const [vx] = await linkJson(env, dev);
  if (!vx) {
    return {
      name,
      verdict: "ok",
      detail: `no ${dev} (nothing to check until flannel runs)`,
    };
  }
  const all = await linkJson(env);
  const uplinkName = vx.linkinfo?.info_data?.link ??
    await defaultRouteDev(env, family);
  const uplink = all.find((l) => l.ifname === uplinkName);
  if (!uplink) {
    return {
      name,
      verdict: "warn",
      detail: `cannot find ${env.vxlanDev}'s uplink`,
      fix: "start flannel with --flannel-iface <uplink>",
    };
  }
  const max = uplink.mtu - overhead;
  if (vx.mtu <= max) {
    return {
      name,
      verdict: "ok",
      detail: `${vx.mtu} <= ${uplink.ifname} ${uplink.mtu} - ${overhead}`,
    };
  }
  return {
    name,
    verdict: "fail",
    detail:
      `${vx.mtu} > ${uplink.ifname} MTU ${uplink.mtu} - ${overhead} VXLAN overhead: large packets are dropped`,
    fix:
      `ip link set ${dev} mtu ${max} (flannel sets uplink MTU - ${overhead} when it creates the device)`,
    repair: async () => {
      const f = await exec(
        inNs(env, ["ip", "link", "set", dev, "mtu", String(max)]),
      );
      if (f.code !== 0) throw new Error(f.stderr.trim());
      return `set ${dev} MTU to ${max}`;
    },
  };
}

export async function checkCniConfigs(env: DoctorEnv): Promise<CheckResult> {
  const dir = cniConfDir(env.dataDir);
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (/\.(conf|conflist|json)$/.test(e.name)) names.push(e.name);
    }
    names.sort();
  } catch {
    return { name: "CNI configs", verdict: "ok", detail: `no ${dir} yet` };
  }
  const ours = "10-flannel.conflist";
  const others = names.filter((n) => n !== ours);
  if (others.length === 0) {
    return {
      name: "CNI configs",
      verdict: "ok",
      detail: names.length ? `only ${ours}` : `${dir} is empty`,
    };
  }
  const first = names[0];
  const shadow = first !== ours && names.includes(ours);
  return {
    name: "CNI configs",
    verdict: shadow || !names.includes(ours) ? "fail" : "warn",
    detail: `${dir} also holds ${others.join(", ")}${
      shadow ? `; the runtime uses the first, ${first}, not ${ours}` : ""
    }`,
    fix: `move ${
      others.map((o) => `${dir}/${o}`).join(" ")
    } out of the conf dir`,
  };
}

export async function checkCniLinks(
  env: DoctorEnv,
  execPath = Deno.execPath(),
): Promise<CheckResult> {
  const dir = cniBinDir(env.dataDir);
  const stale: string[] = [];
  let present = 0;
  for (const name of CNI_NAMES) {
    const path = `${dir}/${name}`;
    let st: Deno.FileInfo;
    try {
      st = await Deno.lstat(path);
    } catch {
      continue;
    }
    present++;
    if (st.isSymlink) {
      const target = await Deno.readLink(path);
      const alive = await Deno.stat(path).then(() => true, () => false);
      if (!alive) stale.push(`${name} -> ${target} (dangling)`);
      continue;
    }
    if (!st.isFile) {
      stale.push(`${name} (not a file)`);
      continue;
    }
    const bytes = await Deno.readFile(path).catch(() => new Uint8Array(0));
    const launcher = readLauncher(bytes);
    const w = launcher ? null : parseWrapper(new TextDecoder().decode(bytes));
    if (!launcher && !w) {
      stale.push(`${name} (not weft's)`);
      continue;
    }
    // What the file runs: the launcher's fallback executable and entry
    // module, or the wrapper's deno and entry.
    const needs = launcher
      ? [launcher.exec, ...launcher.argv.filter((a) => /^\/.*\.[jt]s$/.test(a))]
      : [w!.deno, w!.entry];
    for (const p of needs) {
      if (!(await Deno.stat(p).then(() => true, () => false))) {
        stale.push(`${name} (runs missing ${p})`);
        break;
      }
    }
  }
  if (present === 0) {
    return { name: "CNI plugin links", verdict: "ok", detail: `no ${dir} yet` };
  }
  if (stale.length === 0) {
    return {
      name: "CNI plugin links",
      verdict: "ok",
      detail: `${present} plugins in ${dir}`,
    };
  }
  return {
    name: "CNI plugin links",
    verdict: "fail",
    detail: `stale in ${dir}: ${stale.join(", ")}`,
    fix: "restart weft agent (it replaces them) or run weft doctor --fix",
    repair: async () => {
      const { installPlugins } = await import("../cni_install.ts");
      const mode = await installPlugins(dir, execPath);
      return `reinstalled ${CNI_NAMES.length} plugins in ${dir} (${mode}s)`;
    },
  };
}
