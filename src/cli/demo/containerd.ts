// containerd on one node of a cluster built on this machine (the demo, the
// containerd e2e test, the ctr bench). The node is a network namespace plus
// a private mount namespace held by a process (`holderPid`); containerd and
// every `ctr` run inside both, as on a separate machine:
//
// - /run/containerd is a private tmpfs in the node: containerd's state, its
//   socket, the shims' sockets and runc's root (all fixed under
//   /run/containerd in containerd 1.6) stay apart from any other containerd;
// - the root (images, snapshots) is a directory of the caller's;
// - /opt/cni/bin and /etc/cni/net.d are bind mounts of the dirs weft
//   installed (ctr --cni reads exactly those two paths, in its own mount
//   namespace: ctr, not containerd, runs the CNI plugins);
// - `ip netns exec` mounted a fresh /sys for the node, without the cgroup
//   hierarchy runc needs: the host's /sys/fs/cgroup layout (cgroup2, or v1
//   controllers under a tmpfs) is mounted again inside the node.
//
// `ctr run --cni` in containerd 1.6 runs CNI DEL only when a foreground run
// sees its task exit, so a container here is a foreground `ctr run --cni
// --rm` kept as a child process and stopped with `ctr task kill`.
// Everything is undone by stop(): tasks, containerd, shims (by pid), the
// mounts in the node, cgroups left behind.

import { exec, type Output } from "../exec.ts";
import { DemoError, type Proc, spawnLogged, tail } from "./proc.ts";

const STATE = "/run/containerd";
const SOCKET = `${STATE}/containerd.sock`;
const TASKS = `${STATE}/io.containerd.runtime.v2.task`;

export interface NodeContainerdOptions {
  /** The node's name, for messages. */
  node: string;
  /** A process inside the node's network and mount namespaces. */
  holderPid: number;
  /** containerd's root and config; logs go here too. Removed by stop(). */
  workDir: string;
  /** weft's plugin dir and conflist dir, as paths inside the node. */
  cniBinDir: string;
  cniConfDir: string;
  /** containerd namespace for the containers (default "default"). */
  namespace?: string;
}

/** A cgroup mount of the host, to be made again inside a node. */
export interface CgroupMount {
  path: string;
  fstype: "tmpfs" | "cgroup" | "cgroup2";
  /** cgroup v1: the hierarchy's controllers / name= option. */
  options: string;
}

/** The host's mounts at and under /sys/fs/cgroup, from mountinfo. */
export function hostCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!post) continue;
    const path = pre.split(" ")[4];
    if (path !== "/sys/fs/cgroup" && !path?.startsWith("/sys/fs/cgroup/")) {
      continue;
    }
    const [fstype, , superOpts = ""] = post.split(" ");
    if (fstype !== "tmpfs" && fstype !== "cgroup" && fstype !== "cgroup2") {
      continue;
    }
    const options = fstype === "cgroup"
      ? superOpts.split(",").filter((o) =>
        o !== "rw" && o !== "ro" && !o.startsWith("release_agent=")
      ).join(",")
      : "";
    out.push({ path, fstype, options });
  }
  return out;
}

/** The shell lines that mount `mounts` again (in a fresh /sys). */
function cgroupScript(mounts: CgroupMount[], links: [string, string][]) {
  const lines: string[] = [];
  for (const m of mounts) {
    lines.push(`mkdir -p '${m.path}'`);
    if (m.fstype === "tmpfs") {
      lines.push(`mount -t tmpfs -o mode=0755 cgroup '${m.path}'`);
    } else if (m.fstype === "cgroup2") {
      lines.push(`mount -t cgroup2 cgroup2 '${m.path}'`);
    } else lines.push(`mount -t cgroup -o '${m.options}' cgroup '${m.path}'`);
  }
  for (const [name, target] of links) {
    lines.push(`ln -sfn '${target}' '/sys/fs/cgroup/${name}'`);
  }
  return lines;
}

/** Symlinks directly in the host's /sys/fs/cgroup (cpu -> cpu,cpuacct). */
function hostCgroupLinks(): [string, string][] {
  const out: [string, string][] = [];
  try {
    for (const e of Deno.readDirSync("/sys/fs/cgroup")) {
      if (e.isSymlink) {
        out.push([e.name, Deno.readLinkSync(`/sys/fs/cgroup/${e.name}`)]);
      }
    }
  } catch {
    // no cgroup fs: the mount step reports it
  }
  return out;
}

function safePath(p: string, what: string): string {
  if (!/^\/[A-Za-z0-9._\/-]+$/.test(p)) {
    throw new DemoError(`${what} "${p}" is not a plain absolute path`);
  }
  return p;
}

/** One node's containerd. */
export class NodeContainerd {
  readonly namespace: string;
  readonly containers = new Set<Container>();
  #proc: Proc | null = null;
  #mounted = false;
  readonly #shims: { id: string; shim: number; init: number }[] = [];

  private constructor(readonly options: NodeContainerdOptions) {
    this.namespace = options.namespace ?? "default";
  }

  get log(): string {
    return `${this.options.workDir}/containerd.log`;
  }

  /**
   * A process inside the node's namespaces: the holder, or containerd
   * when the holder is gone (a Ctrl-C reaches the holder too, while
   * containerd, in a session of its own, waits for an orderly stop).
   */
  #target(): number {
    const d = this.#proc;
    if (!aliveSync(this.options.holderPid) && d?.running) return d.pid;
    return this.options.holderPid;
  }

  /** nsenter prefix into the node's network and mount namespaces. */
  get enter(): string[] {
    return ["nsenter", "-t", String(this.#target()), "-m", "-n", "--"];
  }

  /** A path inside the node, readable from the host. */
  path(p: string): string {
    return `/proc/${this.#target()}/root${p}`;
  }

  /** Mounts the node's view, starts containerd and waits for its socket. */
  static async start(o: NodeContainerdOptions): Promise<NodeContainerd> {
    const c = new NodeContainerd(o);
    try {
      await c.#mount();
      await c.#start();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  async #mount(): Promise<void> {
    const bin = safePath(this.options.cniBinDir, "CNI bin dir");
    const conf = safePath(this.options.cniConfDir, "CNI conf dir");
    const mounts = hostCgroupMounts(
      await Deno.readTextFile("/proc/self/mountinfo"),
    );
    if (mounts.length === 0) {
      throw new DemoError(
        "no cgroup file system under /sys/fs/cgroup on this machine: runc needs one",
      );
    }
    // Mount points on the host, left in place (removing one could detach
    // the mounts of another cluster running beside this one).
    for (const d of ["/opt/cni/bin", STATE]) {
      await Deno.mkdir(d, { recursive: true });
    }
    const script = [
      "set -e",
      ...cgroupScript(mounts, hostCgroupLinks()),
      `mount --bind '${bin}' /opt/cni/bin`,
      "mkdir -p /etc/cni/net.d",
      `mount --bind '${conf}' /etc/cni/net.d`,
      `mount -t tmpfs -o mode=0711 weft-containerd ${STATE}`,
    ].join("\n");
    this.#mounted = true;
    const r = await exec([
      "nsenter",
      "-t",
      String(this.options.holderPid),
      "-m",
      "--",
      "sh",
      "-c",
      script,
    ]);
    if (r.code !== 0) {
      throw new DemoError(
        `${this.options.node}: cannot prepare the mounts for containerd: ${r.stderr.trim()}`,
      );
    }
  }

  async #start(): Promise<void> {
    const root = `${this.options.workDir}/root`;
    const config = `${this.options.workDir}/config.toml`;
    await Deno.mkdir(root, { recursive: true });
    await Deno.writeTextFile(
      config,
      [
        "version = 2",
        `root = "${root}"`,
        `state = "${STATE}"`,
        // No CRI (nothing here speaks it); the snapshotters this machine
        // cannot use would only log errors.
        `disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]`,
        "[grpc]",
        `  address = "${SOCKET}"`,
        `[plugins."io.containerd.internal.v1.opt"]`,
        `  path = "${root}/opt"`,
        "",
      ].join("\n"),
    );
    // setsid: a terminal's Ctrl-C goes to the demo, which stops
    // containerd in order, and not to containerd itself.
    this.#proc = spawnLogged(
      `${this.options.node} containerd`,
      ["setsid", ...this.enter, "containerd", "--config", config],
      this.log,
    );
    const deadline = Date.now() + 30_000;
    while (true) {
      if (!this.#proc.running) {
        throw new DemoError(
          `${this.options.node}: containerd exited; last lines of ${this.log}:\n${await tail(
            this.log,
          )}`,
        );
      }
      if ((await this.ctr("version")).code === 0) return;
      if (Date.now() > deadline) {
        throw new DemoError(
          `${this.options.node}: containerd did not answer on ${SOCKET} in 30 s`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** containerd's pid (it is exec'd by nsenter). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** The ctr command line for this containerd and namespace. */
  ctrCmd(...args: string[]): string[] {
    return ["ctr", "-a", SOCKET, "-n", this.namespace, ...args];
  }

  /** The ctr argv, inside the node. */
  ctrArgv(...args: string[]): string[] {
    return [...this.enter, ...this.ctrCmd(...args)];
  }

  /**
   * The argv that runs `cmd` inside the node with its own mount namespace
   * in which `binDir` is /opt/cni/bin and `confDir` /etc/cni/net.d (each
   * when given): how one ctr process gets another CNI view than the node's.
   */
  viewArgv(
    view: { binDir?: string; confDir?: string },
    cmd: string[],
  ): string[] {
    const binds = [
      view.binDir ? 'mount --bind "$0" /opt/cni/bin' : "true",
      view.confDir ? 'mount --bind "$1" /etc/cni/net.d' : "true",
    ];
    return [
      ...this.enter,
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      `${binds.join(" && ")} && shift && exec "$@"`,
      safePath(view.binDir ?? "/opt/cni/bin", "CNI bin dir"),
      safePath(view.confDir ?? "/etc/cni/net.d", "CNI conf dir"),
      ...cmd,
    ];
  }

  /** Runs ctr inside the node. */
  ctr(...args: string[]): Promise<Output> {
    return exec(this.ctrArgv(...args));
  }

  async #must(...args: string[]): Promise<string> {
    const r = await this.ctr(...args);
    if (r.code !== 0) {
      throw new DemoError(
        `${this.options.node}: ctr ${args.join(" ")} failed (exit ${r.code}): ${
          (r.stderr || r.stdout).trim()
        }`,
      );
    }
    return r.stdout;
  }

  /** `ctr images import` of an image tar (a host path). */
  async importImage(tarPath: string): Promise<void> {
    await this.#must("images", "import", safePath(tarPath, "image tar"));
  }

  /** The running tasks: id -> pid. */
  async tasks(): Promise<Map<string, number>> {
    const out = await this.#must("tasks", "ls");
    const m = new Map<string, number>();
    for (const line of out.split("\n").slice(1)) {
      const [id, pid, status] = line.trim().split(/\s+/);
      if (id && status === "RUNNING") m.set(id, Number(pid));
    }
    return m;
  }

  /**
   * Starts `cmd` in a new container attached with CNI (a foreground `ctr
   * run --cni --rm`, kept running) and waits until its task runs. With
   * `conflist`, that one ctr process sees it as the only file in
   * /etc/cni/net.d (a mount namespace of its own): the way to hand a
   * plugin a static `runtimeConfig` (portMappings), which libcni passes
   * through when the runtime supplies no capability arguments — ctr never
   * does.
   */
  async run(
    id: string,
    image: string,
    cmd: string[],
    opts: { conflist?: string } = {},
  ): Promise<Container> {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,60}$/.test(id)) {
      throw new DemoError(`invalid container id "${id}"`);
    }
    const run = this.ctrCmd("run", "--cni", "--rm", image, id, ...cmd);
    let argv = [...this.enter, ...run];
    if (opts.conflist !== undefined) {
      const dir = `${this.options.workDir}/net.d-${id}`;
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(`${dir}/10-flannel.conflist`, opts.conflist);
      argv = this.viewArgv({ confDir: dir }, run);
    }
    const log = `${this.options.workDir}/${id}.log`;
    // setsid as for containerd: the foreground ctr must live to run DEL.
    const proc = spawnLogged(
      `${this.options.node} ${id}`,
      ["setsid", ...argv],
      log,
    );
    const c = new Container(this, id, proc);
    this.containers.add(c);
    const deadline = Date.now() + 30_000;
    while (true) {
      const pid = (await this.tasks()).get(id);
      if (pid) {
        c.pid = pid;
        const shim = await readPid(
          this.path(`${TASKS}/${this.namespace}/${id}/shim.pid`),
        );
        if (shim) this.#shims.push({ id, shim, init: pid });
        return c;
      }
      if (!proc.running || Date.now() > deadline) {
        await c.stop();
        throw new DemoError(
          `${this.options.node}: container ${id} did not start (ctr run ${
            proc.running ? "still waiting after 30 s" : "exited"
          }): ${(await tail(log, 5)).replaceAll("\n", " | ")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops every container, containerd and its shims; undoes the mounts. */
  async stop(): Promise<void> {
    for (const c of [...this.containers]) await c.stop().catch(() => {});
    if (this.#proc?.running) {
      // Anything not started through run() (a bench's -d containers).
      const left = await this.tasks().catch(() => new Map<string, number>());
      for (const id of left.keys()) {
        await this.ctr("tasks", "kill", "-s", "SIGKILL", id);
        await this.ctr("tasks", "delete", "-f", id);
      }
      const all = await this.ctr("containers", "ls", "-q");
      for (const id of all.stdout.split("\n").filter(Boolean)) {
        await this.ctr("containers", "delete", id);
      }
      await this.#proc.stop(5000);
    }
    await this.#killShims();
    if (this.#mounted && aliveSync(this.options.holderPid)) {
      await exec([
        "nsenter",
        "-t",
        String(this.options.holderPid),
        "-m",
        "--",
        "sh",
        "-c",
        `umount -R -l ${STATE}; umount -l /etc/cni/net.d; umount -l /opt/cni/bin; umount -R -l /sys/fs/cgroup; true`,
      ]);
    }
    await this.#removeCgroups();
    await Deno.remove(this.options.workDir, { recursive: true }).catch(
      () => {},
    );
  }

  /**
   * Shims outlive containerd (they are re-parented), and so do their
   * containers: both are found through the pid files in the node's state
   * dir and killed by pid, the container first when its parent is that
   * shim.
   */
  async #killShims(): Promise<void> {
    // The shims of run()'s containers, known by pid even when the node's
    // state dir cannot be reached any more.
    for (const { id, shim, init } of this.#shims) {
      const cmd = await Deno.readTextFile(`/proc/${shim}/cmdline`).catch(() =>
        ""
      );
      if (!cmd.includes("containerd-shim") || !cmd.includes(`\0${id}\0`)) {
        continue;
      }
      if (await parentOf(init) === shim) kill(init);
      kill(shim);
    }
    const dir = this.path(TASKS);
    const nsDirs = await list(dir);
    for (const ns of nsDirs) {
      for (const id of await list(`${dir}/${ns}`)) {
        const shim = await readPid(`${dir}/${ns}/${id}/shim.pid`);
        const init = await readPid(`${dir}/${ns}/${id}/init.pid`);
        if (init && shim && await parentOf(init) === shim) kill(init);
        if (shim && await sameMountNs(shim, this.#target())) kill(shim);
      }
    }
  }

  /** Empty cgroups runc left under the namespace's directory. */
  async #removeCgroups(): Promise<void> {
    if (this.namespace === "default") return;
    for (
      const m of hostCgroupMounts(
        await Deno.readTextFile("/proc/self/mountinfo"),
      )
    ) {
      if (m.fstype === "tmpfs") continue;
      const top = `${m.path}/${this.namespace}`;
      for (const id of await list(top)) {
        await Deno.remove(`${top}/${id}`).catch(() => {});
      }
      await Deno.remove(top).catch(() => {});
    }
  }
}

/** A container started by NodeContainerd.run(). */
export class Container {
  /** The task's pid on the host. */
  pid = 0;
  #stopped: Promise<Deno.CommandStatus> | null = null;

  constructor(
    readonly rt: NodeContainerd,
    readonly id: string,
    readonly proc: Proc,
  ) {}

  /** The CNI container id ctr uses: `<namespace>-<id>`. */
  get cniId(): string {
    return `${this.rt.namespace}-${this.id}`;
  }

  /** The container's network namespace, from the host. */
  get netnsPath(): string {
    return `/proc/${this.pid}/ns/net`;
  }

  /** Runs a command in the container (`ctr tasks exec`). */
  exec(...cmd: string[]): Promise<Output> {
    const execId = `x${crypto.getRandomValues(new Uint32Array(1))[0]}`;
    return this.rt.ctr("tasks", "exec", "--exec-id", execId, this.id, ...cmd);
  }

  /**
   * Runs a command that prints something, asking again (up to `tries`
   * times) while its output is empty: ctr's exec can lose a short
   * process's output when the FIFOs attach late on a busy machine.
   */
  async output(cmd: string[], tries = 10): Promise<Output> {
    let r: Output = { code: -1, stdout: "", stderr: "" };
    for (let i = 0; i < tries; i++) {
      r = await this.exec(...cmd);
      if (r.stdout.trim() !== "") return r;
      await new Promise((res) => setTimeout(res, 100));
    }
    return r;
  }

  /** The IPv4 address of eth0, as the container sees it. */
  async ipv4(): Promise<string> {
    const r = await this.output([
      "ip",
      "-o",
      "-4",
      "addr",
      "show",
      "dev",
      "eth0",
    ]);
    const m = r.stdout.match(/inet (\d+\.\d+\.\d+\.\d+)\/\d+/);
    if (!m) {
      throw new DemoError(
        `container ${this.id} has no IPv4 address on eth0 (exit ${r.code}): ${
          (r.stdout + r.stderr).trim()
        }`,
      );
    }
    return m[1];
  }

  /**
   * Kills the task; the foreground ctr sees it exit, runs CNI DEL, deletes
   * the task and the container. Resolves with ctr's exit status.
   */
  stop(graceMs = 20_000): Promise<Deno.CommandStatus> {
    this.#stopped ??= (async () => {
      if (this.proc.running) {
        await this.rt.ctr("tasks", "kill", "-s", "SIGKILL", this.id);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((r) =>
        timer = setTimeout(() => r("late"), graceMs)
      );
      const st = await Promise.race([this.proc.exited, late]);
      clearTimeout(timer);
      if (st === "late") await this.proc.stop(0);
      this.rt.containers.delete(this);
      return await this.proc.exited;
    })();
    return this.#stopped;
  }
}

async function list(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) out.push(e.name);
    }
  } catch {
    // gone or never made
  }
  return out;
}

async function readPid(path: string): Promise<number | undefined> {
  const t = await Deno.readTextFile(path).catch(() => "");
  const n = Number(t.trim());
  return Number.isInteger(n) && n > 1 ? n : undefined;
}

async function parentOf(pid: number): Promise<number | undefined> {
  const st = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  const m = st.match(/^PPid:\s+(\d+)/m);
  return m ? Number(m[1]) : undefined;
}

async function sameMountNs(a: number, b: number): Promise<boolean> {
  try {
    return await Deno.readLink(`/proc/${a}/ns/mnt`) ===
      await Deno.readLink(`/proc/${b}/ns/mnt`);
  } catch {
    return false;
  }
}

function aliveSync(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

function kill(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
