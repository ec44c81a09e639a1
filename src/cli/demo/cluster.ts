// Building the demo's cluster: the tools it needs, the underlay and nodes,
// a server then agents, waiting for every node's podCIDR, subnet.env and
// CNI conflist, then two pods per node (weft cni add, or containerd).

import { httpsURL } from "../../net/mod.ts";
import type { DemoOptions } from "./args.ts";
import { CONTAINERD_TOOLS, DemoContainers } from "./containers.ts";
import { type WeftProcesses } from "./processes.ts";
import { DemoError, exec, type Output, waitFor } from "./proc.ts";
import type { Reporter } from "./reporter.ts";
import type { Responders } from "./responder.ts";
import { familyOf, type StackPlan } from "./stack.ts";
import type { DemoNode, Topology } from "./topology.ts";

export interface Pod {
  name: string;
  netns: string;
  node: DemoNode;
  /** The primary family's address. */
  ip: string;
  /** Every address, primary family first. */
  ips: string[];
}

const CONFLIST = "/var/lib/weft/agent/etc/cni/net.d/10-flannel.conflist";
const CNI_BIN = "/var/lib/weft/data/cni";
const KUBECONFIG = "/etc/weft/weft.yaml";

/** The demo's tools, and the Debian package of each. */
const TOOLS: [string, string][] = [
  ["ip", "iproute2"],
  ["nsenter", "util-linux"],
  ["unshare", "util-linux"],
  ["curl", "curl"],
  ["kubectl", "kubernetes-client"],
  ["iptables", "iptables"],
];

async function requireTools(runtime: DemoOptions["runtime"]): Promise<void> {
  const missing: string[] = [];
  const tools = runtime === "containerd"
    ? [...TOOLS, ...CONTAINERD_TOOLS]
    : TOOLS;
  for (const [tool, pkg] of tools) {
    try {
      await new Deno.Command(tool, {
        args: ["--help"],
        stdout: "null",
        stderr: "null",
      }).output();
    } catch {
      missing.push(`${tool} (${pkg})`);
    }
  }
  if (missing.length) {
    throw new DemoError(
      `missing ${
        missing.join(", ")
      }: run "bash scripts/install.sh" or apt-get install them`,
    );
  }
}

export class DemoCluster {
  readonly pods: Pod[] = [];
  /** The pods' runtime with --runtime containerd. */
  containers: DemoContainers | null = null;

  constructor(
    readonly options: DemoOptions,
    readonly topo: Topology,
    readonly stack: StackPlan,
    readonly procs: WeftProcesses,
    readonly responders: Responders,
    readonly report: Reporter,
    readonly signal: AbortSignal,
  ) {}

  interrupted(): void {
    if (this.signal.aborted) throw new DemoError("interrupted");
  }

  kubectl(server: DemoNode, ...args: string[]): Promise<Output> {
    return exec([
      ...this.topo.enter(server),
      "kubectl",
      "--kubeconfig",
      KUBECONFIG,
      "--request-timeout=5s",
      ...args,
    ]);
  }

  async waitFor<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
    return await waitFor(what, fn, {
      timeoutMs: this.options.timeoutMs,
      signal: this.signal,
      fatal: () => this.procs.assertAlive(),
    });
  }

  async build(): Promise<void> {
    const { options, topo, procs } = this;
    await requireTools(options.runtime);
    await topo.checkFree();
    procs.logDir = await Deno.makeTempDir({ prefix: "weft-demo-logs-" });
    if (options.runtime === "containerd") {
      this.containers = new DemoContainers(
        topo,
        CNI_BIN,
        CONFLIST.slice(0, CONFLIST.lastIndexOf("/")),
        procs.logDir,
        (m) => this.report.progress(m),
      );
    }
    await topo.createUnderlay();
    this.report.progress(
      `underlay: bridge br0 ${
        this.stack.gatewayCidrs().join(" ")
      } in netns ${topo.underlay} (${this.stack.label()})`,
    );
    for (let i = 1; i <= options.nodes; i++) {
      this.interrupted();
      const node = await topo.addNode(i);
      this.responders.serve(`/run/netns/${node.netns}`, node.name);
      this.report.progress(
        `${node.name}: netns ${node.netns}, eth0 ${
          node.ips.join(" ")
        }, private /var/lib/weft /etc/weft /run/flannel /var/lib/cni`,
      );
    }
    const [server, ...agents] = topo.nodes;
    procs.start(server, "server", [
      "--flannel-backend",
      options.backend,
      ...this.stack.serverArgs(),
    ]);
    const token = await this.waitFor("the server's agent token", async () => {
      const text = await Deno.readTextFile(
        topo.path(server, "/var/lib/weft/server/agent-token"),
      ).catch(() => "");
      return text.trim() || undefined;
    });
    await this.waitFor(
      "the API server (kubectl get --raw /readyz)",
      async () => {
        const r = await this.kubectl(server, "get", "--raw", "/healthz");
        return r.code === 0 ? true : undefined;
      },
    );
    this.report.progress(
      `${server.name}: API server answers on ${httpsURL(server.ip, 6443)}`,
    );
    for (const node of agents) {
      procs.start(node, "agent", [
        "--server",
        httpsURL(server.ip, 6443),
        "--token",
        token,
      ]);
    }
    await this.waitNodes(server);
    for (const node of topo.nodes) await this.waitFlannel(node);
    for (const node of topo.nodes) {
      for (const j of [1, 2]) {
        this.interrupted();
        await this.addPod(node, `${node.name.replace("node", "n")}-p${j}`);
      }
    }
  }

  async waitNodes(server: DemoNode): Promise<void> {
    const want = this.topo.nodes.map((n) => n.name);
    const cidrs = await this.waitFor(
      `all ${want.length} nodes with a podCIDR`,
      async () => {
        const r = await this.kubectl(server, "get", "nodes", "-o", "json");
        if (r.code !== 0) return undefined;
        const items = (JSON.parse(r.stdout).items ?? []) as {
          metadata: { name: string };
          spec?: { podCIDR?: string };
        }[];
        const got = new Map(
          items.map((i) => [i.metadata.name, i.spec?.podCIDR]),
        );
        return want.every((n) => got.get(n)) ? got : undefined;
      },
    );
    for (const n of want) {
      this.report.progress(`${n}: registered, podCIDR ${cidrs.get(n)}`);
    }
  }

  /** Waits for a node's subnet.env and CNI conflist. */
  async waitFlannel(node: DemoNode): Promise<void> {
    const subnet = await this.waitFor(
      `${node.name}'s subnet.env and CNI conflist`,
      async () => {
        const env = await Deno.readTextFile(
          this.topo.path(node, "/run/flannel/subnet.env"),
        ).catch(() => "");
        const conf = await Deno.stat(this.topo.path(node, CONFLIST)).then(
          () => true,
          () => false,
        );
        // An IPv6-only node has FLANNEL_IPV6_SUBNET alone.
        const subnet = [...env.matchAll(/^FLANNEL_(?:IPV6_)?SUBNET=(\S+)/gm)]
          .map((m) => m[1]).join(" ");
        return subnet && conf ? subnet : undefined;
      },
    );
    this.report.progress(
      `${node.name}: flannel up, subnet ${subnet}, CNI installed`,
    );
  }

  async addPod(node: DemoNode, name: string): Promise<void> {
    if (this.containers) {
      const c = await this.containers.addPod(node, name);
      this.responders.serve(`/run/netns/${c.netns}`, name);
      const ips = this.#ordered(await podAddresses(c.netns));
      this.pods.push({ name, netns: c.netns, node, ip: ips[0] ?? c.ip, ips });
      this.report.progress(
        `${node.name}: container ${name} ${
          ips.join(" ")
        } (ctr run --cni, task pid ${c.pid}, netns ${c.netns})`,
      );
      return;
    }
    const netns = await this.topo.addPod(name);
    const r = await exec([
      ...this.topo.enter(node),
      ...this.procs.self,
      "cni",
      "add",
      CONFLIST,
      `/run/netns/${netns}`,
      "--container-id",
      netns,
      "--ifname",
      "eth0",
      "--cni-bin-dir",
      CNI_BIN,
    ]);
    if (r.code !== 0) {
      throw new DemoError(
        `pod ${name} on ${node.name}: weft cni add failed (exit ${r.code}): ${
          (r.stdout + r.stderr).trim().split("\n").slice(-4).join(" | ")
        }`,
      );
    }
    const result = JSON.parse(r.stdout) as { ips?: { address: string }[] };
    const ips = this.#ordered(
      (result.ips ?? []).map((x) => x.address.split("/")[0]),
    );
    const ip = ips[0];
    if (!ip) {
      throw new DemoError(
        `pod ${name}: the CNI result has no IP: ${r.stdout.trim()}`,
      );
    }
    this.responders.serve(`/run/netns/${netns}`, name);
    this.pods.push({ name, netns, node, ip, ips });
    this.report.progress(
      `${node.name}: pod ${name} ${ips.join(" ")} (netns ${netns})`,
    );
  }

  /** Addresses, the cluster's primary family first. */
  #ordered(ips: string[]): string[] {
    return [...ips].sort((a, b) =>
      this.stack.families.indexOf(familyOf(a)) -
      this.stack.families.indexOf(familyOf(b))
    );
  }

  /** Stops the pods' runtime, the processes and the namespaces. */
  async teardown(): Promise<void> {
    await this.responders.close();
    await this.containers?.stop();
    await this.procs.stopAll();
    await this.topo.teardown();
  }
}

/** The global addresses on a pod's eth0 (a container's netns). */
async function podAddresses(netns: string): Promise<string[]> {
  const r = await exec([
    "ip",
    "-n",
    netns,
    "-j",
    "addr",
    "show",
    "dev",
    "eth0",
  ]);
  if (r.code !== 0) {
    throw new DemoError(
      `pod netns ${netns}: ip addr failed: ${r.stderr.trim()}`,
    );
  }
  const links = JSON.parse(r.stdout) as {
    addr_info?: { local: string; scope: string }[];
  }[];
  return links.flatMap((l) => l.addr_info ?? [])
    .filter((a) => a.scope === "global").map((a) => a.local);
}
