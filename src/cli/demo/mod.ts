// `weft demo`: a cluster of N nodes in network namespaces on this machine —
// a server and agents as real processes over an underlay bridge, two pods
// per node through the installed CNI chain, then a connectivity matrix.
// `--check` builds, checks once, tears down and returns 0 or 1; otherwise a
// live status line runs until Ctrl-C. Teardown happens on every path.
//
// The parts: args.ts (flags), processes.ts (the weft processes),
// cluster.ts (the build), matrix.ts (the checks), reporter.ts (output).

import { sleep } from "../../util/async.ts";
import { DEMO_HELP, type DemoOptions, parseDemoArgs } from "./args.ts";
import { DemoCluster, type Pod } from "./cluster.ts";
import {
  type Check,
  clusterChecks,
  runChecks,
  summarize,
  type Summary,
} from "./matrix.ts";
import { WeftProcesses } from "./processes.ts";
import { type Output, type Proc } from "./proc.ts";
import { Reporter } from "./reporter.ts";
import { Responders } from "./responder.ts";
import { selfCommand } from "./self.ts";
import { StackPlan } from "./stack.ts";
import { cleanNamespaces, type DemoNode, Topology } from "./topology.ts";

export { DEMO_HELP, type DemoOptions, parseDemoArgs } from "./args.ts";
export type { Pod } from "./cluster.ts";

export async function demoCommand(
  args: string[],
  signal: AbortSignal,
): Promise<number> {
  const options = parseDemoArgs(args);
  if (options.help) {
    console.log(DEMO_HELP);
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error(
      "weft demo: needs root (network and mount namespaces); run it with sudo",
    );
    return 1;
  }
  if (options.clean) {
    const gone = await cleanNamespaces(options.prefix);
    console.log(
      gone.length
        ? `removed ${gone.join(", ")}`
        : `no ${options.prefix}* namespaces to remove`,
    );
    return 0;
  }
  return await runDemo(options, signal);
}

/** One demo cluster; exported for the e2e tests that restart its parts. */
export class Demo {
  readonly report = new Reporter();
  readonly stack: StackPlan;
  readonly topo: Topology;
  readonly procs: WeftProcesses;
  readonly cluster: DemoCluster;

  constructor(readonly options: DemoOptions, readonly signal: AbortSignal) {
    this.stack = new StackPlan(options.stack);
    this.topo = new Topology(options.prefix, this.stack);
    this.procs = new WeftProcesses(
      this.topo,
      this.stack,
      selfCommand(),
      this.report,
    );
    this.cluster = new DemoCluster(
      options,
      this.topo,
      this.stack,
      this.procs,
      new Responders(),
      this.report,
      signal,
    );
  }

  /** How to run weft itself. */
  get self(): string[] {
    return this.procs.self;
  }

  /** The TCP responders the checks talk to, one per netns. */
  get responders(): Responders {
    return this.cluster.responders;
  }

  get pods(): Pod[] {
    return this.cluster.pods;
  }

  build(): Promise<void> {
    return this.cluster.build();
  }

  kubectl(server: DemoNode, ...args: string[]): Promise<Output> {
    return this.cluster.kubectl(server, ...args);
  }

  /** SIGKILLs a weft process ("node1 server", "node2 agent"). */
  kill(name: string): Promise<void> {
    return this.procs.kill(name);
  }

  /** Starts a killed process again with the same arguments. */
  relaunch(name: string): Proc {
    return this.procs.relaunch(name);
  }

  /** The process of that name, if running. */
  proc(name: string): Proc | undefined {
    return this.procs.get(name);
  }

  checks(): Check[] {
    return clusterChecks(
      this.cluster.pods,
      this.topo.nodes,
      this.stack.families,
      (server, ...args) => this.cluster.kubectl(server, ...args),
    );
  }

  /** Runs the matrix until everything passes or the time is up. */
  async converge(limitMs: number): Promise<Summary> {
    const deadline = Date.now() + limitMs;
    while (true) {
      this.cluster.interrupted();
      await this.procs.assertAlive();
      const summary = summarize(await runChecks(this.checks()));
      if (summary.failures.length === 0 || Date.now() > deadline) {
        return summary;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  /** The live status line, until Ctrl-C. */
  async live(): Promise<void> {
    console.log("running; Ctrl-C tears the cluster down");
    while (!this.signal.aborted) {
      const summary = summarize(await runChecks(this.checks()));
      await this.report.liveLine(summary, this.procs.exited());
      await sleep(2000, this.signal);
    }
    console.log("");
  }

  /** The last lines of every weft process's log (after a failure). */
  printLogTails(): Promise<void> {
    return this.report.logTails(this.procs.running);
  }

  /** Stops everything; the process logs are kept unless `dropLogs`. */
  async teardown(dropLogs = false): Promise<void> {
    await this.cluster.teardown();
    const logDir = this.procs.logDir;
    if (dropLogs && logDir) {
      await Deno.remove(logDir, { recursive: true }).catch(() => {});
    }
    this.report.tornDown(logDir, !dropLogs);
  }
}

export async function runDemo(
  options: DemoOptions,
  signal: AbortSignal,
): Promise<number> {
  const demo = new Demo(options, signal);
  let code = 1;
  try {
    await demo.build();
    const summary = await demo.converge(options.check ? 90_000 : 60_000);
    demo.report.matrix(summary);
    if (options.check) {
      code = summary.failures.length === 0 ? 0 : 1;
      demo.report.progress(code === 0 ? "check passed" : "check FAILED");
    } else {
      await demo.live();
      code = 0;
    }
  } catch (e) {
    console.error(`weft demo: ${(e as Error).message}`);
    await demo.printLogTails();
    code = 1;
  } finally {
    await demo.teardown(options.check && code === 0);
  }
  return code;
}
