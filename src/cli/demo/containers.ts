// `weft demo --runtime containerd`: the demo's pods are real containers.
// Each node runs Debian's containerd inside its own namespaces (see
// containerd.ts) with a busybox image built on this machine; a pod is a
// foreground `ctr run --cni --rm` of `sleep`, attached by the CNI config
// weft installed on that node, exactly as a runtime on a real node would
// do it. The container's network namespace gets a name under /run/netns
// (`ip netns attach`), so the demo's responders and checks treat it like
// any other pod. Stopping a pod kills its task: ctr then runs CNI DEL.

import { buildBusyboxImage, BUSYBOX_IMAGE } from "./busybox_image.ts";
import { NodeContainerd } from "./containerd.ts";
import { exec, must } from "./proc.ts";
import type { DemoNode, Topology } from "./topology.ts";

/** What the containerd runtime needs on this machine, and its package. */
export const CONTAINERD_TOOLS: [string, string][] = [
  ["containerd", "containerd"],
  ["ctr", "containerd"],
  ["runc", "runc"],
  ["busybox", "busybox-static"],
];

export interface ContainerPod {
  netns: string;
  ip: string;
  pid: number;
}

export class DemoContainers {
  readonly #runtimes = new Map<string, NodeContainerd>();
  #image = "";
  #dir = "";

  constructor(
    readonly topo: Topology,
    readonly cniBinDir: string,
    readonly cniConfDir: string,
    readonly logDir: string,
    readonly progress: (msg: string) => void,
  ) {}

  /**
   * containerd's namespace: one per demo, so cgroups never collide
   * (containerd allows no "--" in it).
   */
  get namespace(): string {
    return `${this.topo.prefix}ctr`.replace(/-+/g, "-");
  }

  async #runtime(node: DemoNode): Promise<NodeContainerd> {
    const have = this.#runtimes.get(node.name);
    if (have) return have;
    if (!this.#dir) {
      this.#dir = await Deno.makeTempDir({ prefix: "weft-demo-containerd-" });
      this.#image = await buildBusyboxImage(`${this.#dir}/image`);
      this.progress(
        `busybox OCI image built from /bin/busybox: ${this.#image}`,
      );
    }
    const rt = await NodeContainerd.start({
      node: node.name,
      holderPid: node.holder.pid,
      workDir: `${this.#dir}/${node.name}`,
      cniBinDir: this.cniBinDir,
      cniConfDir: this.cniConfDir,
      namespace: this.namespace,
    });
    this.#runtimes.set(node.name, rt);
    await rt.importImage(this.#image);
    const version = (await exec(["containerd", "--version"])).stdout.trim()
      .split(" ")[2] ?? "";
    this.progress(
      `${node.name}: containerd ${version} (pid ${rt.pid}), /opt/cni/bin and /etc/cni/net.d bound to weft's, ${BUSYBOX_IMAGE} imported; try: ${
        rt.ctrArgv("tasks", "ls").join(" ")
      }`,
    );
    return rt;
  }

  /** Starts a busybox container named `name` on the node. */
  async addPod(node: DemoNode, name: string): Promise<ContainerPod> {
    const rt = await this.#runtime(node);
    const c = await rt.run(name, BUSYBOX_IMAGE, ["sleep", "1000000000"]);
    const ip = await c.ipv4();
    const netns = `${this.topo.prefix}${name}`;
    await must(["ip", "netns", "attach", netns, String(c.pid)]);
    this.topo.pods.push(netns);
    return { netns, ip, pid: c.pid };
  }

  /** Stops every container (CNI DEL) and containerd; keeps its logs. */
  async stop(): Promise<void> {
    for (const [name, rt] of this.#runtimes) {
      if (this.logDir) {
        await Deno.copyFile(rt.log, `${this.logDir}/${name}-containerd.log`)
          .catch(() => {});
      }
      await rt.stop();
    }
    this.#runtimes.clear();
    if (this.#dir) {
      await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    }
  }
}
