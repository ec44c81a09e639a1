// The demo's weft processes: a server or agent started inside its node's
// namespaces with its output in a log file, killed and started again by
// name ("node1 server", "node2 agent"), stopped in reverse order.

import type { Reporter } from "./reporter.ts";
import { DemoError, type Proc, spawnLogged, tail } from "./proc.ts";
import type { StackPlan } from "./stack.ts";
import type { DemoNode, Topology } from "./topology.ts";

export type Role = "server" | "agent";

interface Launch {
  node: DemoNode;
  role: Role;
  args: string[];
}

export class WeftProcesses {
  readonly running: Proc[] = [];
  readonly #launches = new Map<string, Launch>();
  /** Where the logs go; set by the cluster build. */
  logDir = "";

  constructor(
    readonly topo: Topology,
    readonly stack: StackPlan,
    /** How to run weft itself (selfCommand()). */
    readonly self: string[],
    readonly report: Reporter,
  ) {}

  start(node: DemoNode, role: Role, args: string[]): Proc {
    const log = `${this.logDir}/${node.name}-${role}.log`;
    // IPv6 and dual-stack agents find their node IP themselves, as on a
    // real IPv6 host (the server is given it, as in K3s's IPv6 setup).
    const nodeIP = role === "server" || this.stack.isDefault
      ? ["--node-ip", node.ips.join(",")]
      : [];
    const proc = spawnLogged(`${node.name} ${role}`, [
      ...this.topo.enter(node),
      ...this.self,
      role,
      "--node-name",
      node.name,
      ...nodeIP,
      ...args,
    ], log);
    this.running.push(proc);
    this.#launches.set(proc.name, { node, role, args });
    this.report.progress(
      `${node.name}: weft ${role} started (pid ${proc.pid}, log ${log})`,
    );
    return proc;
  }

  /** SIGKILLs a weft process ("node1 server", "node2 agent"). */
  async kill(name: string): Promise<void> {
    const i = this.running.findIndex((p) => p.name === name);
    if (i < 0) throw new DemoError(`no process ${name}`);
    const [proc] = this.running.splice(i, 1);
    proc.child.kill("SIGKILL");
    await proc.exited;
    this.report.progress(`${name}: killed (pid ${proc.pid})`);
  }

  /** Starts a killed process again with the same arguments. */
  relaunch(name: string): Proc {
    const launch = this.#launches.get(name);
    if (!launch) throw new DemoError(`no process ${name}`);
    return this.start(launch.node, launch.role, launch.args);
  }

  /** The process of that name, if running. */
  get(name: string): Proc | undefined {
    return this.running.find((p) => p.name === name);
  }

  /** The names of those that exited. */
  exited(): string[] {
    return this.running.filter((p) => !p.running).map((p) => p.name);
  }

  /** Fails early, with the log's tail, when a weft process died. */
  async assertAlive(): Promise<void> {
    for (const p of this.running) {
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

  /** Stops them all, the last started first. */
  async stopAll(): Promise<void> {
    for (const p of [...this.running].reverse()) await p.stop(8000);
  }
}
