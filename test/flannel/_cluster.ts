// A real weft cluster for flannel's acceptance tests: an underlay bridge in
// its own namespace, and per node a network namespace plus a private mount
// namespace (tmpfs over /var/lib/weft, /etc/weft, /run/flannel, /var/lib/cni,
// /etc/cni), held by a `sleep` process; `weft server` runs on node1 and
// `weft agent` on the others, as separate processes entered into their node
// with nsenter. Everything is stopped and removed on dispose.

import { Netns, run } from "../harness/netns.ts";
import { eventually } from "./_underlay.ts";

const root = new URL("../..", import.meta.url).pathname;
const PRIVATE = [
  "/var/lib/weft",
  "/etc/weft",
  "/run/flannel",
  "/var/lib/cni",
  "/etc/cni",
];

export interface ClusterNode {
  name: string;
  ns: Netns;
  ip: string;
  holder: Deno.ChildProcess;
  proc: Deno.ChildProcess | null;
  log: string;
}

export class Cluster implements AsyncDisposable {
  readonly nodes: ClusterNode[] = [];
  ul!: Netns;
  logDir = "";
  token = "";

  private constructor(
    readonly serverArgs: string[],
    readonly agentArgs: string[],
    readonly env: Record<string, string>,
  ) {}

  static async start(opts: {
    nodes: number;
    serverArgs?: readonly string[];
    agentArgs?: readonly string[];
    env?: Record<string, string>;
  }): Promise<Cluster> {
    const c = new Cluster(
      [...opts.serverArgs ?? []],
      [...opts.agentArgs ?? []],
      opts.env ?? {},
    );
    try {
      await c.#build(opts.nodes);
    } catch (e) {
      await c[Symbol.asyncDispose]();
      throw e;
    }
    return c;
  }

  async #build(n: number): Promise<void> {
    this.logDir = await Deno.makeTempDir({ prefix: "weft-flannel-e2e-" });
    this.ul = await Netns.create("ul");
    await this.ul.sh("ip", "link", "add", "br0", "type", "bridge");
    await this.ul.sh("ip", "addr", "add", "10.251.0.1/24", "dev", "br0");
    await this.ul.sh("ip", "link", "set", "br0", "up");
    for (const d of PRIVATE) {
      // Mount points only: the tmpfs is mounted inside each node. They are
      // left in place afterwards: removing one would detach the mounts of
      // any other cluster or demo running at the same time.
      await Deno.mkdir(d, { recursive: true });
    }
    for (let i = 1; i <= n; i++) {
      const ns = await Netns.create(`node${i}`);
      const ip = `10.251.0.${10 + i}`;
      await this.ul.sh(
        "ip",
        "link",
        "add",
        `p${i}`,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns.name,
      );
      await this.ul.sh("ip", "link", "set", `p${i}`, "master", "br0", "up");
      await ns.sh("ip", "addr", "add", `${ip}/24`, "dev", "eth0");
      await ns.sh("ip", "link", "set", "eth0", "up");
      await ns.sh("ip", "route", "add", "default", "via", "10.251.0.1");
      await ns.sh("sysctl", "-qw", "net.ipv4.ip_forward=1");
      const mounts = PRIVATE.map((d) =>
        `mount -t tmpfs -o mode=0755 weft-t ${d}`
      )
        .join(" && ");
      const holder = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          ns.name,
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
        stderr: "null",
      }).spawn();
      const reader = holder.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      const first = await reader.read();
      reader.releaseLock();
      holder.stdout.cancel().catch(() => {});
      const node: ClusterNode = {
        name: `node${i}`,
        ns,
        ip,
        holder,
        proc: null,
        log: `${this.logDir}/node${i}.log`,
      };
      this.nodes.push(node);
      if (first.value?.trim() !== "ready") {
        throw new Error(`cannot make the mount namespace of node${i}`);
      }
    }
    const [server, ...agents] = this.nodes;
    this.startWeft(server);
    await eventually("the agent token", async () => {
      this.token = (await this.read(server, "/var/lib/weft/server/agent-token"))
        .trim();
      return this.token !== "";
    }, 60_000);
    await eventually(
      "the API server",
      async () => (await this.kubectl("get", "--raw", "/healthz")).code === 0,
      60_000,
    );
    for (const a of agents) this.startWeft(a);
    for (const node of this.nodes) {
      await eventually(`${node.name} flannel up`, async () => {
        this.#alive(node);
        return (await this.read(node, "/run/flannel/subnet.env")).includes(
          "FLANNEL_SUBNET",
        );
      }, 60_000);
    }
  }

  #alive(node: ClusterNode): void {
    if (!node.proc) throw new Error(`${node.name} is not running`);
  }

  /** Starts (or restarts) weft on a node: server on node1, agents elsewhere. */
  startWeft(node: ClusterNode): void {
    const isServer = node === this.nodes[0];
    const role = isServer ? ["server", ...this.serverArgs] : [
      "agent",
      "--server",
      `https://${this.nodes[0].ip}:6443`,
      "--token",
      this.token,
      ...this.agentArgs,
    ];
    const args = [
      "-t",
      String(node.holder.pid),
      "-m",
      "-n",
      "--",
      "bash",
      "-c",
      'exec "$@" >>"$WEFT_T_LOG" 2>&1',
      "weft",
      Deno.execPath(),
      "run",
      "-A",
      `${root}main.ts`,
      ...role,
      "--node-name",
      node.name,
      "--node-ip",
      node.ip,
    ];
    node.proc = new Deno.Command("nsenter", {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env: { ...this.env, WEFT_T_LOG: node.log },
    }).spawn();
  }

  /** Stops weft on a node (SIGTERM, then SIGKILL) and waits for it. */
  async stopWeft(node: ClusterNode): Promise<void> {
    const p = node.proc;
    if (!p) return;
    node.proc = null;
    try {
      p.kill("SIGTERM");
    } catch {
      // already gone
    }
    const t = setTimeout(() => {
      try {
        p.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 10_000);
    await p.status;
    clearTimeout(t);
  }

  /** A file inside a node's private mounts. */
  async read(node: ClusterNode, path: string): Promise<string> {
    const r = await run([
      "nsenter",
      "-t",
      String(node.holder.pid),
      "-m",
      "--",
      "cat",
      path,
    ]);
    return r.code === 0 ? r.stdout : "";
  }

  kubectl(...args: string[]) {
    return run([
      "nsenter",
      "-t",
      String(this.nodes[0].holder.pid),
      "-m",
      "-n",
      "--",
      "kubectl",
      "--kubeconfig",
      "/etc/weft/weft.yaml",
      "--request-timeout=5s",
      ...args,
    ]);
  }

  async logs(): Promise<string> {
    const out: string[] = [];
    for (const n of this.nodes) {
      const text = await Deno.readTextFile(n.log).catch(() => "");
      out.push(`--- ${n.name}\n${text.split("\n").slice(-40).join("\n")}`);
    }
    return out.join("\n");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const n of [...this.nodes].reverse()) await this.stopWeft(n);
    for (const n of this.nodes) {
      try {
        n.holder.kill("SIGKILL");
      } catch {
        // already gone
      }
      await n.holder.status;
      await n.ns[Symbol.asyncDispose]();
    }
    if (this.ul) await this.ul[Symbol.asyncDispose]();
    if (this.logDir) {
      await Deno.remove(this.logDir, { recursive: true }).catch(() => {});
    }
  }
}
