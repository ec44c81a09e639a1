// `weft demo`: a cluster of N nodes in network namespaces on this machine —
// a server and agents as real processes over an underlay bridge, two pods
// per node through the installed CNI chain, then a connectivity matrix.
// `--check` builds, checks once, tears down and returns 0 or 1; otherwise a
// live status line runs until Ctrl-C. Teardown happens on every path.

import { parseArgs } from "@std/cli/parse-args";
import { sleep } from "../../supervisor/mod.ts";
import { UsageError } from "../errors.ts";
import {
  type Check,
  runChecks,
  summarize,
  summaryLine,
  tcpCheck,
} from "./matrix.ts";
import { RESPONDER_PORT, Responders } from "./responder.ts";
import {
  DemoError,
  exec,
  type Proc,
  spawnLogged,
  tail,
  waitFor,
} from "./proc.ts";
import { selfCommand } from "./self.ts";
import { CONTAINERD_TOOLS, DemoContainers } from "./containers.ts";
import { familyOf, type Stack, StackPlan } from "./stack.ts";
import { httpsURL } from "../../net/mod.ts";
import { cleanNamespaces, type DemoNode, Topology } from "./topology.ts";

export const DEMO_HELP =
  `Usage: weft demo [--check] [--nodes N] [--backend vxlan|host-gw|wireguard-native]
                 [--runtime cni|containerd] [--ipv6] [--dual-stack]

Builds a weft cluster on this machine: an underlay bridge and N nodes, each
its own network and mount namespace, a "weft server" on node1 and a
"weft agent" on every other node (real processes), two pods per node made
through the installed CNI chain, then checks pod to pod across nodes, pod to
node, and the server to each agent through its tunnel.

Flags:
  --check              build, check once, tear down; exit 0 when all pass
  --nodes N            number of nodes (default 3, 1-50)
  --backend B          flannel backend: vxlan (default), host-gw or wireguard-native
  --runtime R          how pods are made: cni (default: "weft cni add" into a
                       netns) or containerd (busybox containers started by
                       "ctr run --cni" on each node's own containerd)
  --ipv6               single-stack IPv6: the nodes' uplinks have no IPv4 address
                       (server --node-ip fd77::1 --cluster-cidr fd42::/56
                       --service-cidr fd43::/112; agents detect their node IP)
  --dual-stack         IPv4 and IPv6 (IPv4 primary); with --ipv6, IPv6 primary
  --timeout S          seconds to wait for the cluster to come up (default 240)
  --ns-prefix P        namespace name prefix (default weft-demo-; tests use weft-t-...)
  --clean              remove namespaces left by a crashed demo, then exit
  --help               this text

Needs root. Ctrl-C tears everything down.`;

export interface DemoOptions {
  nodes: number;
  backend: "vxlan" | "host-gw" | "wireguard-native";
  check: boolean;
  timeoutMs: number;
  prefix: string;
  /** How pods are made (default "cni"). */
  runtime?: "cni" | "containerd";
  /** Address families (default ipv4); see stack.ts. */
  stack?: Stack;
}

export function parseDemoArgs(
  args: string[],
): DemoOptions & { clean: boolean; help: boolean } {
  let unknown: string | undefined;
  const p = parseArgs(args, {
    string: ["nodes", "backend", "timeout", "ns-prefix", "runtime"],
    boolean: ["check", "clean", "help", "ipv6", "dual-stack"],
    unknown: (arg: string, key?: string) => {
      if (key === undefined) unknown ??= `argument "${arg}"`;
      else unknown ??= `flag ${arg.split("=")[0]}`;
      return false;
    },
  }) as Record<string, string | boolean | undefined>;
  if (unknown) {
    throw new UsageError(
      `weft demo: unknown ${unknown}; see "weft demo --help"`,
    );
  }
  const nodes = Number(p.nodes ?? "3");
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 50) {
    throw new UsageError(
      `weft demo: invalid value "${p.nodes}" for flag --nodes: must be a whole number from 1 to 50`,
    );
  }
  const backend = String(p.backend ?? "vxlan");
  if (
    backend !== "vxlan" && backend !== "host-gw" &&
    backend !== "wireguard-native"
  ) {
    throw new UsageError(
      `weft demo: invalid value "${backend}" for flag --backend: must be vxlan, host-gw or wireguard-native`,
    );
  }
  const timeout = Number(p.timeout ?? "240");
  if (!(timeout > 0)) {
    throw new UsageError(
      `weft demo: invalid value "${p.timeout}" for flag --timeout: must be a number of seconds`,
    );
  }
  const prefix = String(p["ns-prefix"] ?? "weft-demo-");
  if (!/^weft-[a-z0-9-]{0,20}$/.test(prefix)) {
    throw new UsageError(
      `weft demo: invalid value "${prefix}" for flag --ns-prefix: must start with "weft-" (lowercase letters, digits, '-')`,
    );
  }
  const runtime = String(p.runtime ?? "cni");
  if (runtime !== "cni" && runtime !== "containerd") {
    throw new UsageError(
      `weft demo: invalid value "${runtime}" for flag --runtime: must be cni or containerd`,
    );
  }
  return {
    nodes,
    backend,
    runtime,
    check: p.check === true,
    timeoutMs: timeout * 1000,
    prefix,
    stack: p["dual-stack"] === true
      ? (p.ipv6 === true ? "dual6" : "dual")
      : (p.ipv6 === true ? "ipv6" : "ipv4"),
    clean: p.clean === true,
    help: p.help === true,
  };
}

export async function demoCommand(
  args: string[],
  signal: AbortSignal,
): Promise<number> {
  const o = parseDemoArgs(args);
  if (o.help) {
    console.log(DEMO_HELP);
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error(
      "weft demo: needs root (network and mount namespaces); run it with sudo",
    );
    return 1;
  }
  if (o.clean) {
    const gone = await cleanNamespaces(o.prefix);
    console.log(
      gone.length
        ? `removed ${gone.join(", ")}`
        : `no ${o.prefix}* namespaces to remove`,
    );
    return 0;
  }
  return await runDemo(o, signal);
}

interface Pod {
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

/** One demo cluster; exported for the e2e tests that restart its parts. */
export class Demo {
  readonly topo: Topology;
  readonly stack: StackPlan;
  readonly procs: Proc[] = [];
  readonly pods: Pod[] = [];
  readonly responders = new Responders();
  readonly self = selfCommand();
  readonly started = Date.now();
  logDir = "";
  /** The pods' runtime with --runtime containerd. */
  containers: DemoContainers | null = null;

  constructor(readonly o: DemoOptions, readonly signal: AbortSignal) {
    this.stack = new StackPlan(o.stack);
    this.topo = new Topology(o.prefix, this.stack);
  }

  progress(msg: string): void {
    const t = ((Date.now() - this.started) / 1000).toFixed(1).padStart(5);
    console.log(`[${t}s] ${msg}`);
  }

  interrupted(): void {
    if (this.signal.aborted) throw new DemoError("interrupted");
  }

  kubectl(
    server: DemoNode,
    ...args: string[]
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return exec([
      ...this.topo.enter(server),
      "kubectl",
      "--kubeconfig",
      KUBECONFIG,
      "--request-timeout=5s",
      ...args,
    ]);
  }

  /** Fails early, with the log's tail, when a weft process died. */
  async assertAlive(): Promise<void> {
    for (const p of this.procs) {
      if (!p.running) {
        const st = await p.exited;
        throw new DemoError(
          `${p.name} exited (code ${st.code}); last lines of ${p.logFile}:\n${await tail(
            p.logFile,
          )}`,
        );
      }
    }
  }

  async waitFor<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
    return await waitFor(what, fn, {
      timeoutMs: this.o.timeoutMs,
      signal: this.signal,
      fatal: () => this.assertAlive(),
    });
  }

  start(node: DemoNode, role: "server" | "agent", args: string[]): Proc {
    const log = `${this.logDir}/${node.name}-${role}.log`;
    // IPv6 and dual-stack agents find their node IP themselves, as on a
    // real IPv6 host (the server is given it, as in K3s's IPv6 setup).
    const nodeIP = role === "server" || this.stack.isDefault
      ? ["--node-ip", node.ips.join(",")]
      : [];
    const p = spawnLogged(`${node.name} ${role}`, [
      ...this.topo.enter(node),
      ...this.self,
      role,
      "--node-name",
      node.name,
      ...nodeIP,
      ...args,
    ], log);
    this.procs.push(p);
    this.#launches.set(p.name, { node, role, args });
    this.progress(
      `${node.name}: weft ${role} started (pid ${p.pid}, log ${log})`,
    );
    return p;
  }

  readonly #launches = new Map<
    string,
    { node: DemoNode; role: "server" | "agent"; args: string[] }
  >();

  /** SIGKILLs a weft process ("node1 server", "node2 agent"). */
  async kill(name: string): Promise<void> {
    const i = this.procs.findIndex((p) => p.name === name);
    if (i < 0) throw new DemoError(`no process ${name}`);
    const [p] = this.procs.splice(i, 1);
    p.child.kill("SIGKILL");
    await p.exited;
    this.progress(`${name}: killed (pid ${p.pid})`);
  }

  /** Starts a killed process again with the same arguments. */
  relaunch(name: string): Proc {
    const l = this.#launches.get(name);
    if (!l) throw new DemoError(`no process ${name}`);
    return this.start(l.node, l.role, l.args);
  }

  /** The process of that name, if running. */
  proc(name: string): Proc | undefined {
    return this.procs.find((p) => p.name === name);
  }

  async build(): Promise<void> {
    const { o, topo } = this;
    await requireTools(o.runtime);
    await topo.checkFree();
    this.logDir = await Deno.makeTempDir({ prefix: "weft-demo-logs-" });
    if (o.runtime === "containerd") {
      this.containers = new DemoContainers(
        topo,
        CNI_BIN,
        CONFLIST.slice(0, CONFLIST.lastIndexOf("/")),
        this.logDir,
        (m) => this.progress(m),
      );
    }
    await topo.createUnderlay();
    this.progress(
      `underlay: bridge br0 ${
        this.stack.gatewayCidrs().join(" ")
      } in netns ${topo.underlay} (${this.stack.label()})`,
    );
    for (let i = 1; i <= o.nodes; i++) {
      this.interrupted();
      const n = await topo.addNode(i);
      this.responders.serve(`/run/netns/${n.netns}`, n.name);
      this.progress(
        `${n.name}: netns ${n.netns}, eth0 ${
          n.ips.join(" ")
        }, private /var/lib/weft /etc/weft /run/flannel /var/lib/cni`,
      );
    }
    const [server, ...agents] = topo.nodes;
    this.start(server, "server", [
      "--flannel-backend",
      o.backend,
      ...this.stack.serverArgs(),
    ]);
    const token = await this.waitFor("the server's agent token", async () => {
      const t = await Deno.readTextFile(
        topo.path(server, "/var/lib/weft/server/agent-token"),
      ).catch(() => "");
      return t.trim() || undefined;
    });
    await this.waitFor(
      "the API server (kubectl get --raw /readyz)",
      async () => {
        const r = await this.kubectl(server, "get", "--raw", "/healthz");
        return r.code === 0 ? true : undefined;
      },
    );
    this.progress(
      `${server.name}: API server answers on ${httpsURL(server.ip, 6443)}`,
    );
    for (const n of agents) {
      this.start(n, "agent", [
        "--server",
        httpsURL(server.ip, 6443),
        "--token",
        token,
      ]);
    }
    await this.waitNodes(server);
    for (const n of topo.nodes) {
      await this.waitFor(
        `${n.name}'s subnet.env and CNI conflist`,
        async () => {
          const env = await Deno.readTextFile(
            topo.path(n, "/run/flannel/subnet.env"),
          ).catch(() => "");
          const conf = await Deno.stat(topo.path(n, CONFLIST)).then(
            () => true,
            () => false,
          );
          // An IPv6-only node has FLANNEL_IPV6_SUBNET alone.
          const subnet = [...env.matchAll(/^FLANNEL_(?:IPV6_)?SUBNET=(\S+)/gm)]
            .map((m) => m[1]).join(" ");
          return subnet && conf ? subnet : undefined;
        },
      ).then((subnet) =>
        this.progress(`${n.name}: flannel up, subnet ${subnet}, CNI installed`)
      );
    }
    for (const n of topo.nodes) {
      for (const j of [1, 2]) {
        this.interrupted();
        await this.addPod(n, `${n.name.replace("node", "n")}-p${j}`);
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
      this.progress(`${n}: registered, podCIDR ${cidrs.get(n)}`);
    }
  }

  async addPod(node: DemoNode, name: string): Promise<void> {
    if (this.containers) {
      const c = await this.containers.addPod(node, name);
      this.responders.serve(`/run/netns/${c.netns}`, name);
      const ips = this.#ordered(await podAddresses(c.netns));
      this.pods.push({ name, netns: c.netns, node, ip: ips[0] ?? c.ip, ips });
      this.progress(
        `${node.name}: container ${name} ${
          ips.join(" ")
        } (ctr run --cni, task pid ${c.pid}, netns ${c.netns})`,
      );
      return;
    }
    const netns = await this.topo.addPod(name);
    const r = await exec([
      ...this.topo.enter(node),
      ...this.self,
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
    this.progress(
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

  checks(): Check[] {
    const out: Check[] = [];
    // Each family the cluster has, checked on its own (dual-stack: both).
    const dual = this.stack.families.length > 1;
    const tag = (ip: string) => dual ? ` (IPv${familyOf(ip)})` : "";
    const same = (ips: string[], ip: string) =>
      ips.find((x) => familyOf(x) === familyOf(ip));
    for (const a of this.pods) {
      for (const src of a.ips) {
        for (const b of this.pods) {
          const dst = same(b.ips, src);
          if (a.node === b.node || !dst) continue;
          out.push({
            kind: "pod-pod",
            from: a.name,
            to: `${b.name}${tag(dst)}`,
            run: () => tcpCheck(a.netns, dst, RESPONDER_PORT, b.name, src),
          });
        }
        for (const n of this.topo.nodes) {
          const dst = same(n.ips, src);
          if (!dst) continue;
          out.push({
            kind: "pod-node",
            from: a.name,
            to: `${n.name}${tag(dst)}`,
            // Another node's underlay address is outside the cluster CIDR:
            // flannel's ip-masq rewrites the source to the pod's node.
            run: () =>
              tcpCheck(
                a.netns,
                dst,
                RESPONDER_PORT,
                n.name,
                n === a.node ? undefined : same(a.node.ips, src),
              ),
          });
        }
      }
    }
    const server = this.topo.nodes[0];
    for (const n of this.topo.nodes) {
      out.push({
        kind: "tunnel",
        from: server.name,
        to: n.name,
        run: async () => {
          const r = await this.kubectl(
            server,
            "get",
            "--raw",
            `/api/v1/nodes/${n.name}/proxy/status`,
          );
          if (r.code !== 0) return (r.stderr || r.stdout).trim().split("\n")[0];
          return r.stdout.includes(n.name)
            ? null
            : `unexpected status: ${r.stdout.slice(0, 120)}`;
        },
      });
    }
    return out;
  }

  /** Runs the matrix until everything passes or the time is up. */
  async converge(limitMs: number): Promise<ReturnType<typeof summarize>> {
    const deadline = Date.now() + limitMs;
    while (true) {
      this.interrupted();
      await this.assertAlive();
      const s = summarize(await runChecks(this.checks()));
      if (s.failures.length === 0 || Date.now() > deadline) return s;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  printMatrix(s: ReturnType<typeof summarize>): void {
    this.progress(`connectivity: ${summaryLine(s)}`);
    for (const f of s.failures) {
      console.log(
        `  FAIL ${f.check.kind} ${f.check.from} -> ${f.check.to}: ${f.error}`,
      );
    }
  }

  async live(): Promise<void> {
    console.log("running; Ctrl-C tears the cluster down");
    while (!this.signal.aborted) {
      const s = summarize(await runChecks(this.checks()));
      const down = this.procs.filter((p) => !p.running).map((p) => p.name);
      const time = new Date().toISOString().slice(11, 19);
      const line = `${time} ${summaryLine(s)}${
        down.length ? ` — exited: ${down.join(", ")}` : ""
      }`;
      await Deno.stdout.write(new TextEncoder().encode(`\x1b[2K\r${line}`));
      await sleep(2000, this.signal);
    }
    console.log("");
  }

  /** The last lines of every weft process's log (after a failure). */
  async printLogTails(): Promise<void> {
    for (const p of this.procs) {
      const t = await tail(p.logFile, 8);
      if (t) console.error(`--- ${p.name} (${p.logFile}):\n${t}`);
    }
  }

  /** Stops everything; the process logs are kept unless `dropLogs`. */
  async teardown(dropLogs = false): Promise<void> {
    await this.responders.close();
    await this.containers?.stop();
    for (const p of [...this.procs].reverse()) await p.stop(8000);
    await this.topo.teardown();
    if (dropLogs && this.logDir) {
      await Deno.remove(this.logDir, { recursive: true }).catch(() => {});
      this.progress("torn down");
    } else if (this.logDir) {
      this.progress(`torn down (logs kept in ${this.logDir})`);
    } else this.progress("torn down");
  }
}

export async function runDemo(
  o: DemoOptions,
  signal: AbortSignal,
): Promise<number> {
  const demo = new Demo(o, signal);
  let code = 1;
  try {
    await demo.build();
    const s = await demo.converge(o.check ? 90_000 : 60_000);
    demo.printMatrix(s);
    if (o.check) {
      code = s.failures.length === 0 ? 0 : 1;
      demo.progress(code === 0 ? "check passed" : "check FAILED");
    } else {
      await demo.live();
      code = 0;
    }
  } catch (e) {
    console.error(`weft demo: ${(e as Error).message}`);
    await demo.printLogTails();
    code = 1;
  } finally {
    await demo.teardown(o.check && code === 0);
  }
  return code;
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
