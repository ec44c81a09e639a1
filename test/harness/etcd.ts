// etcd members for tests: Debian's etcd-server binary, bound to loopback (or
// to an address the caller gives, inside a weft-t- namespace through
// `prefix`), data under a temp dir, stopped by PID. Tests that need etcd
// print why they skip when the binary is missing.

export const ETCD_BIN = "/usr/bin/etcd";

export function haveEtcd(): boolean {
  try {
    return Deno.statSync(ETCD_BIN).isFile;
  } catch {
    return false;
  }
}

/** A loopback port nobody listens on now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  child: Deno.ChildProcess | null;
}

export interface EtcdClusterOptions {
  /** Members (default 1). */
  size?: number;
  /** Host of each member (default 127.0.0.1). */
  hosts?: string[];
  /** Command prefix to run a member in (e.g. `ip netns exec weft-t-x`). */
  prefix?: (i: number) => string[];
  /** Serve clients over TLS with this certificate, requiring client
   * certificates signed by `caFile`. */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

/** A running etcd cluster; `endpoint` is the K3s-style URL list. */
export class EtcdCluster implements AsyncDisposable {
  readonly members: EtcdMember[] = [];
  #dir = "";
  #prefix: (i: number) => string[];
  #tls: EtcdClusterOptions["tls"];

  private constructor(
    prefix: (i: number) => string[],
    tls: EtcdClusterOptions["tls"],
  ) {
    this.#prefix = prefix;
    this.#tls = tls;
  }

  static async start(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    const size = options.size ?? 1;
    const c = new EtcdCluster(options.prefix ?? (() => []), options.tls);
    c.#dir = await Deno.makeTempDir({ prefix: "weft-etcd-" });
    for (let i = 0; i < size; i++) {
      const host = options.hosts?.[i] ?? "127.0.0.1";
      c.members.push({
        name: `m${i}`,
        clientUrl: `${options.tls ? "https" : "http"}://${host}:${freePort()}`,
        peerUrl: `http://${host}:${freePort()}`,
        dataDir: `${c.#dir}/m${i}`,
        child: null,
      });
    }
    try {
      for (let i = 0; i < size; i++) c.#spawn(i);
      await c.waitReady();
    } catch (e) {
      await c[Symbol.asyncDispose]();
      throw e;
    }
    return c;
  }

  get endpoint(): string {
    return this.members.map((m) => m.clientUrl).join(",");
  }

  #spawn(i: number): void {
    const m = this.members[i];
    const initial = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(",");
    const args = [
      ETCD_BIN,
      "--name",
      m.name,
      "--data-dir",
      m.dataDir,
      "--listen-client-urls",
      m.clientUrl,
      "--advertise-client-urls",
      m.clientUrl,
      "--listen-peer-urls",
      m.peerUrl,
      "--initial-advertise-peer-urls",
      m.peerUrl,
      "--initial-cluster",
      initial,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      this.#dir,
      "--heartbeat-interval",
      "50",
      "--election-timeout",
      "500",
      "--log-level",
      "error",
      ...(this.#tls
        ? [
          "--cert-file",
          this.#tls.certFile,
          "--key-file",
          this.#tls.keyFile,
          "--trusted-ca-file",
          this.#tls.caFile,
          "--client-cert-auth",
        ]
        : []),
    ];
    const full = [...this.#prefix(i), ...args];
    m.child = new Deno.Command(full[0], {
      args: full.slice(1),
      stdout: "null",
      stderr: "null",
      stdin: "null",
      env: Deno.build.arch === "x86_64"
        ? {}
        : { ETCD_UNSUPPORTED_ARCH: "arm64" },
    }).spawn();
  }

  /** Waits until every running member answers /health. */
  async waitReady(timeoutMs = 20000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (const [i, m] of this.members.entries()) {
      if (!m.child) continue;
      while (true) {
        try {
          const r = await this.#health(i);
          if (r) break;
        } catch {
          // not up yet
        }
        if (Date.now() > until) {
          throw new Error(
            `etcd member ${m.name} not healthy in ${timeoutMs} ms`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async #health(i: number): Promise<boolean> {
    const cmd = [
      ...this.#prefix(i),
      "curl",
      "-sf",
      "-m",
      "1",
      ...(this.#tls
        ? [
          "--cacert",
          this.#tls.caFile,
          "--cert",
          this.#tls.certFile,
          "--key",
          this.#tls.keyFile,
        ]
        : []),
      `${this.members[i].clientUrl}/health`,
    ];
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success &&
      new TextDecoder().decode(out.stdout).includes('"health":"true"');
  }

  /** kill -9 one member. */
  async kill(i: number): Promise<void> {
    const m = this.members[i];
    if (!m.child) return;
    try {
      m.child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await m.child.status;
    m.child = null;
  }

  /** Starts a killed member again (same data dir, rejoins its cluster). */
  async restart(i: number): Promise<void> {
    if (this.members[i].child) return;
    this.#spawn(i);
    await this.waitReady();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.kill(i);
    if (this.#dir) await Deno.remove(this.#dir, { recursive: true });
  }
}
