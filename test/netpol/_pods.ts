// A node for network policy tests: a host namespace with weft's bridge
// (cni0, dual-stack host-local) and pod namespaces attached through weft's
// CNI runtime, each running TCP/UDP servers on ports 80 and 81; probes run
// from inside a pod (or the host) against many targets at once.

import { Netns } from "../harness/netns.ts";
import type { NamedPort, PodView } from "../../src/netpol/mod.ts";

const HERE = new URL(".", import.meta.url).pathname;
export type Target = [string, "tcp" | "udp", number];

export interface PodSpec {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  ports?: NamedPort[];
  /** Start the TCP/UDP servers (default true). */
  serve?: boolean;
}

export interface TestPod {
  spec: PodSpec;
  ns: Netns;
  ips: string[];
  ip4: string;
  ip6: string;
  server?: Deno.ChildProcess;
}

export interface NodeOptions {
  subnet4?: string;
  subnet6?: string;
}

export class PodNode implements AsyncDisposable {
  readonly pods: TestPod[] = [];
  #count = 0;

  private constructor(
    readonly host: Netns,
    readonly dir: string,
    readonly conflist: string,
    readonly tag: string,
  ) {}

  static async create(tag: string, o: NodeOptions = {}): Promise<PodNode> {
    const host = await Netns.create(`${tag}h`);
    const dir = await Deno.makeTempDir({ prefix: `weft-t-${tag}-` });
    await host.sh(
      "sysctl",
      "-q",
      "-w",
      "net.ipv6.conf.all.accept_dad=0",
      "net.ipv6.conf.default.accept_dad=0",
    );
    const conflist = `${dir}/net.conflist`;
    await Deno.writeTextFile(
      conflist,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "netpol",
        plugins: [{
          type: "bridge",
          bridge: "cni0",
          isGateway: true,
          isDefaultGateway: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: o.subnet4 ?? "10.22.0.0/24" }], [{
              subnet: o.subnet6 ?? "fd00:22::/64",
            }]],
            dataDir: `${dir}/ipam`,
          },
        }],
      }),
    );
    return new PodNode(host, dir, conflist, tag);
  }

  /** Makes, attaches and (by default) serves the pods; one CNI process. */
  async add(specs: PodSpec[]): Promise<TestPod[]> {
    const made: TestPod[] = [];
    for (const spec of specs) {
      const ns = await Netns.create(`${this.tag}${++this.#count}`);
      await ns.sh(
        "sysctl",
        "-q",
        "-w",
        "net.ipv6.conf.all.accept_dad=0",
        "net.ipv6.conf.default.accept_dad=0",
      );
      made.push({ spec, ns, ips: [], ip4: "", ip6: "" });
      this.pods.push(made[made.length - 1]);
    }
    const out = await this.host.sh(
      Deno.execPath(),
      "run",
      "-A",
      `${HERE}_attach.ts`,
      "add",
      this.conflist,
      `${this.dir}/cache`,
      String(this.#count - specs.length),
      ...made.map((p) => p.ns.path),
    );
    const ips = JSON.parse(out) as string[][];
    made.forEach((p, i) => {
      p.ips = ips[i];
      p.ip4 = ips[i].find((x) => !x.includes(":")) ?? "";
      p.ip6 = ips[i].find((x) => x.includes(":")) ?? "";
    });
    await Promise.all(
      made.filter((p) => p.spec.serve !== false).map((p) => this.#serve(p)),
    );
    return made;
  }

  async #serve(p: TestPod): Promise<void> {
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        p.ns.name,
        Deno.execPath(),
        "run",
        "-A",
        "--unstable-net",
        `${HERE}_echo.ts`,
        p.spec.name,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    p.server = child;
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    const first = await reader.read();
    reader.releaseLock();
    if (!first.value?.includes("ready")) {
      throw new Error(`servers of ${p.spec.name} did not start`);
    }
  }

  /** Removes a pod (CNI DEL not needed: its namespace goes). */
  async remove(p: TestPod): Promise<void> {
    await this.#stop(p);
    await p.ns[Symbol.asyncDispose]();
    this.pods.splice(this.pods.indexOf(p), 1);
  }

  async #stop(p: TestPod): Promise<void> {
    if (!p.server) return;
    try {
      p.server.kill();
    } catch { /* exited */ }
    await p.server.status;
    await p.server.stdout.cancel().catch(() => {});
    p.server = undefined;
  }

  /** What the compiler sees of the pods. */
  views(nodeName: string): PodView[] {
    return this.pods.map((p) => ({
      namespace: p.spec.namespace,
      name: p.spec.name,
      labels: p.spec.labels ?? {},
      ips: p.ips,
      nodeName,
      ports: p.spec.ports ?? [],
    }));
  }

  /** Probes `targets` from inside `from` (a pod, or the host). */
  async probe(from: TestPod | "host", targets: Target[]): Promise<boolean[]> {
    const ns = from === "host" ? this.host : from.ns;
    const r = await ns.run([
      Deno.execPath(),
      "run",
      "-A",
      "--unstable-net",
      `${HERE}_probe.ts`,
      JSON.stringify(targets),
    ]);
    if (r.code !== 0) throw new Error(`probe failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as boolean[];
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const p of [...this.pods]) {
      await this.#stop(p);
      await p.ns[Symbol.asyncDispose]();
    }
    this.pods.length = 0;
    await this.host[Symbol.asyncDispose]();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
