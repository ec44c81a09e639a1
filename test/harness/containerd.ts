// containerd on the nodes of a test cluster (test/flannel/_cluster.ts):
// each node's containerd runs inside the node's network and mount
// namespaces with its own root, state and socket, /opt/cni/bin and
// /etc/cni/net.d bound to the dirs the node's weft installed (see
// src/cli/demo/containerd.ts, shared with the demo and the bench). Plus
// the small readers a containerd test needs: the node's conflist, its
// podCIDR, the IPs host-local holds, the node's NAT rules.

import {
  NodeContainerd,
  type NodeContainerdOptions,
} from "../../src/cli/demo/containerd.ts";
import { waitFor } from "../../src/cli/demo/proc.ts";
import { run } from "./netns.ts";

export {
  buildBusyboxImage,
  BUSYBOX_IMAGE,
} from "../../src/cli/demo/busybox_image.ts";
export { Container, NodeContainerd } from "../../src/cli/demo/containerd.ts";

/** Where weft (default data dir) installs the plugins and the conflist. */
export const WEFT_CNI_BIN = "/var/lib/weft/data/cni";
export const WEFT_CNI_CONF_DIR = "/var/lib/weft/agent/etc/cni/net.d";
export const WEFT_CONFLIST = `${WEFT_CNI_CONF_DIR}/10-flannel.conflist`;

/** K3s's conflist: flannel (delegating to bridge), portmap, bandwidth. */
export const K3S_CHAIN_CONFLIST = {
  name: "cbr0",
  cniVersion: "1.0.0",
  plugins: [
    {
      type: "flannel",
      delegate: {
        hairpinMode: true,
        forceAddress: true,
        isDefaultGateway: true,
      },
    },
    { type: "portmap", capabilities: { portMappings: true } },
    { type: "bandwidth", capabilities: { bandwidth: true } },
  ],
};

export interface NodeRef {
  name: string;
  holder: { pid: number };
}

const until = <T>(what: string, fn: () => Promise<T | undefined>) =>
  waitFor(what, fn, { timeoutMs: 60_000, intervalMs: 200 });

/** A file inside the node's private mounts ("" when missing). */
export function readInNode(node: NodeRef, path: string): Promise<string> {
  return Deno.readTextFile(`/proc/${node.holder.pid}/root${path}`).catch(() =>
    ""
  );
}

/** The conflist weft installed on the node, once it is there. */
export async function installedConflist(node: NodeRef): Promise<string> {
  return await until(`${node.name}'s conflist`, async () => {
    const t = await readInNode(node, WEFT_CONFLIST);
    return t.trim() ? t : undefined;
  });
}

/** The node's podCIDR as flannel wrote it (FLANNEL_SUBNET's network). */
export async function podCidr(node: NodeRef): Promise<string> {
  const env = await until(`${node.name}'s subnet.env`, async () => {
    const t = await readInNode(node, "/run/flannel/subnet.env");
    return /^FLANNEL_SUBNET=/m.test(t) ? t : undefined;
  });
  const [ip, len] = env.match(/^FLANNEL_SUBNET=(\S+)/m)![1].split("/");
  return `${networkOf(ip, Number(len))}/${len}`;
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
}

function networkOf(ip: string, len: number): string {
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const n = (ipToInt(ip) & mask) >>> 0;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

/** True when `ip` lies in `cidr` (IPv4). */
export function inCidr(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split("/");
  return networkOf(ip, Number(len)) === networkOf(net, Number(len));
}

/** The IPs host-local holds for network `name` on the node. */
export async function heldIPs(node: NodeRef, name = "cbr0"): Promise<string[]> {
  const out: string[] = [];
  try {
    const dir = `/proc/${node.holder.pid}/root/var/lib/cni/networks/${name}`;
    for await (const e of Deno.readDir(dir)) {
      if (/^\d+\.\d+\.\d+\.\d+$/.test(e.name)) out.push(e.name);
    }
  } catch {
    // no allocation yet
  }
  return out.sort();
}

/** The node's NAT rules, iptables and nft alike, as text. */
export async function natRules(node: NodeRef): Promise<string> {
  const enter = ["nsenter", "-t", String(node.holder.pid), "-n", "-m", "--"];
  const ipt = await run([...enter, "iptables-save", "-t", "nat"]);
  const nft = await run([...enter, "nft", "list", "ruleset"]);
  return ipt.stdout + nft.stdout;
}

/**
 * The conflist with a static `runtimeConfig.portMappings` in every plugin
 * that declares the portMappings capability: what libcni hands that plugin
 * when the runtime passes no capability arguments (ctr never passes any).
 */
export function withPortMappings(
  conflist: string,
  mappings: { hostPort: number; containerPort: number; protocol: string }[],
): string {
  const list = JSON.parse(conflist) as {
    plugins: {
      capabilities?: Record<string, boolean>;
      runtimeConfig?: unknown;
    }[];
  };
  let n = 0;
  for (const p of list.plugins) {
    if (p.capabilities?.portMappings === true) {
      p.runtimeConfig = { portMappings: mappings };
      n++;
    }
  }
  if (n === 0) throw new Error("no plugin in the conflist takes portMappings");
  return JSON.stringify(list);
}

/**
 * Starts containerd on a cluster node once weft installed its CNI conflist,
 * with weft's plugin and conflist dirs as /opt/cni/bin and /etc/cni/net.d.
 */
export async function startContainerd(
  node: NodeRef,
  workDir: string,
  opts: Partial<NodeContainerdOptions> = {},
): Promise<NodeContainerd> {
  await installedConflist(node);
  return await NodeContainerd.start({
    node: node.name,
    holderPid: node.holder.pid,
    workDir,
    cniBinDir: WEFT_CNI_BIN,
    cniConfDir: WEFT_CNI_CONF_DIR,
    ...opts,
  });
}
