// The demo's machines: an underlay bridge in its own network namespace, and
// per node a network namespace plus a private mount namespace (its own
// /var/lib/weft, /etc/weft, /run/flannel, /var/lib/cni, /etc/cni), exactly
// as on separate machines. A tiny holder process keeps each node's mount
// namespace alive; weft processes and CNI calls enter it with nsenter.
// Mounts made on the host (new /run/netns entries for pods) propagate into
// the nodes (slave propagation); the nodes' own mounts stay private.

import { DemoError, exec, must, Proc } from "./proc.ts";
import { StackPlan } from "./stack.ts";

/** Private per-node folders (tmpfs in the node's mount namespace). */
export const PRIVATE_DIRS = [
  "/var/lib/weft",
  "/etc/weft",
  "/run/flannel",
  "/var/lib/cni",
  "/etc/cni",
];

export const UNDERLAY_NET = "10.250.0";

export interface DemoNode {
  index: number;
  name: string;
  netns: string;
  /** The primary family's underlay address. */
  ip: string;
  /** Every underlay address, primary family first. */
  ips: string[];
  holder: Proc;
}

export class Topology {
  readonly nodes: DemoNode[] = [];
  readonly pods: string[] = [];
  #underlayMade = false;

  constructor(
    readonly prefix: string,
    readonly stack: StackPlan = new StackPlan(),
  ) {}

  get underlay(): string {
    return `${this.prefix}underlay`;
  }

  /** Refuses to start over namespaces of a running or crashed demo. */
  async checkFree(): Promise<void> {
    let names: string[] = [];
    try {
      names = [...Deno.readDirSync("/run/netns")].map((e) => e.name);
    } catch {
      return;
    }
    const taken = names.filter((n) => n.startsWith(this.prefix));
    if (taken.length > 0) {
      throw new DemoError(
        `network namespaces ${taken.slice(0, 3).join(", ")}${
          taken.length > 3 ? ", ..." : ""
        } already exist: another demo is running or one crashed; remove them with "weft demo --clean${
          this.prefix === "weft-demo-" ? "" : ` --ns-prefix ${this.prefix}`
        }"`,
      );
    }
    await Promise.resolve();
  }

  async createUnderlay(): Promise<void> {
    const u = this.underlay;
    await must(["ip", "netns", "add", u]);
    this.#underlayMade = true;
    await must(["ip", "-n", u, "link", "set", "lo", "up"]);
    await must(["ip", "-n", u, "link", "add", "br0", "type", "bridge"]);
    for (const cidr of this.stack.gatewayCidrs()) {
      // nodad: an IPv6 address is usable at once (no 1-2 s of DAD).
      const nodad = cidr.includes(":") ? ["nodad"] : [];
      await must(["ip", "-n", u, "addr", "add", cidr, "dev", "br0", ...nodad]);
    }
    await must(["ip", "-n", u, "link", "set", "br0", "up"]);
  }

  /**
   * The mount points must exist on the host; missing ones are created empty
   * and left in place (removing one could detach the private mounts of a
   * demo running beside this one).
   */
  async #ensureMountPoints(): Promise<void> {
    for (const d of PRIVATE_DIRS) await Deno.mkdir(d, { recursive: true });
  }

  async addNode(index: number): Promise<DemoNode> {
    const name = `node${index}`;
    const netns = `${this.prefix}${name}`;
    const ips = this.stack.nodeIPs(index);
    const port = `n${index}`;
    await must(["ip", "netns", "add", netns]);
    await must(["ip", "-n", netns, "link", "set", "lo", "up"]);
    await must([
      "ip",
      "-n",
      this.underlay,
      "link",
      "add",
      port,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      netns,
    ]);
    await must([
      "ip",
      "-n",
      this.underlay,
      "link",
      "set",
      port,
      "master",
      "br0",
      "up",
    ]);
    // Only the stack's families: an IPv6-only node has no IPv4 address.
    for (const f of this.stack.families) {
      const ip = this.stack.nodeIP(index, f);
      const cidr = `${ip}/${this.stack.prefix(f)}`;
      const nodad = f === 6 ? ["nodad"] : [];
      await must([
        "ip",
        "-n",
        netns,
        "addr",
        "add",
        cidr,
        "dev",
        "eth0",
        ...nodad,
      ]);
    }
    await must(["ip", "-n", netns, "link", "set", "eth0", "up"]);
    for (const f of this.stack.families) {
      await must([
        "ip",
        `-${f}`,
        "-n",
        netns,
        "route",
        "add",
        "default",
        "via",
        this.stack.gateway(f),
      ]);
      await must([
        "ip",
        "netns",
        "exec",
        netns,
        "sysctl",
        "-qw",
        f === 4 ? "net.ipv4.ip_forward=1" : "net.ipv6.conf.all.forwarding=1",
      ]);
    }
    await this.#ensureMountPoints();
    const holder = await this.#startHolder(name, netns);
    const node = { index, name, netns, ip: ips[0], ips, holder };
    this.nodes.push(node);
    return node;
  }

  async #startHolder(name: string, netns: string): Promise<Proc> {
    const mounts = PRIVATE_DIRS.map((d) =>
      `mount -t tmpfs -o mode=0755 weft-demo ${d}`
    ).join(" && ");
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        netns,
        "unshare",
        "--mount",
        "--propagation",
        "slave",
        "bash",
        "-c",
        `${mounts} && echo ready && exec sleep infinity`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const proc = new Proc(`${name}-mounts`, child, "");
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    const first = await reader.read();
    reader.releaseLock();
    if (first.value?.trim() !== "ready") {
      const err = await new Response(child.stderr).text().catch(() => "");
      await proc.stop(0);
      throw new DemoError(
        `cannot make the private mount namespace of ${name}: ${
          err.trim() || "holder exited"
        }`,
      );
    }
    child.stdout.cancel().catch(() => {});
    child.stderr.cancel().catch(() => {});
    return proc;
  }

  /** `nsenter` prefix that runs a command inside a node (net + mounts). */
  enter(node: DemoNode): string[] {
    return ["nsenter", "-t", String(node.holder.pid), "-m", "-n", "--"];
  }

  /** A path inside the node's private mounts, readable from the host. */
  path(node: DemoNode, p: string): string {
    return `/proc/${node.holder.pid}/root${p}`;
  }

  async addPod(name: string): Promise<string> {
    const ns = `${this.prefix}${name}`;
    await must(["ip", "netns", "add", ns]);
    this.pods.push(ns);
    return ns;
  }

  /** Deletes every namespace and holder this topology made. */
  async teardown(): Promise<void> {
    for (const n of this.nodes) await n.holder.stop(0);
    for (const ns of [...this.pods, ...this.nodes.map((n) => n.netns)]) {
      await exec(["ip", "netns", "del", ns]);
    }
    if (this.#underlayMade) await exec(["ip", "netns", "del", this.underlay]);
  }
}

/** Removes every namespace whose name starts with `prefix` (weft demo --clean). */
export async function cleanNamespaces(prefix: string): Promise<string[]> {
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync("/run/netns")].map((e) => e.name);
  } catch {
    return [];
  }
  const mine = names.filter((n) => n.startsWith(prefix));
  for (const n of mine) {
    // Processes a crashed demo left inside (by pid, never by name).
    const pids = (await exec(["ip", "netns", "pids", n])).stdout.split(/\s+/)
      .filter((p) => /^\d+$/.test(p)).map(Number);
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    await exec(["ip", "netns", "del", n]);
  }
  return mine;
}
