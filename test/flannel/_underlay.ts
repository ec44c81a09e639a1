// Test topology: an "underlay" namespace with a bridge, and N node
// namespaces each with eth0 (192.168.77.<i+1>/24) on that bridge and a
// default route via the bridge address 192.168.77.254. Everything stays in
// namespaces made by the harness and goes away on dispose.

import { Netns } from "../harness/netns.ts";

export interface UnderlayNode {
  ns: Netns;
  ip: string;
}

export class Underlay implements AsyncDisposable {
  private constructor(readonly ul: Netns, readonly nodes: UnderlayNode[]) {}

  /** With `v6`, eth0 also gets fd00:77::<i+1>/64 and a default IPv6 route. */
  static async create(
    n: number,
    opts: { v6?: boolean } = {},
  ): Promise<Underlay> {
    const ul = await Netns.create("ul");
    const nodes: UnderlayNode[] = [];
    const u = new Underlay(ul, nodes);
    try {
      await ul.sh("ip", "link", "add", "br0", "type", "bridge");
      await ul.sh("ip", "addr", "add", "192.168.77.254/24", "dev", "br0");
      await ul.sh("ip", "link", "set", "br0", "up");
      if (opts.v6) {
        await ul.sh(
          "ip",
          "addr",
          "add",
          "fd00:77::fe/64",
          "dev",
          "br0",
          "nodad",
        );
      }
      for (let i = 0; i < n; i++) {
        const ns = await Netns.create(`n${i}`);
        nodes.push({ ns, ip: `192.168.77.${i + 1}` });
        await ul.sh(
          "ip",
          "link",
          "add",
          `v${i}`,
          "type",
          "veth",
          "peer",
          "name",
          "eth0",
          "netns",
          ns.name,
        );
        await ul.sh("ip", "link", "set", `v${i}`, "master", "br0", "up");
        await ns.sh(
          "ip",
          "addr",
          "add",
          `192.168.77.${i + 1}/24`,
          "dev",
          "eth0",
        );
        await ns.sh("ip", "link", "set", "eth0", "up");
        await ns.sh("ip", "route", "add", "default", "via", "192.168.77.254");
        await ns.sh("sysctl", "-qw", "net.ipv4.ip_forward=1");
        if (opts.v6) {
          await ns.sh(
            "ip",
            "addr",
            "add",
            `fd00:77::${i + 1}/64`,
            "dev",
            "eth0",
            "nodad",
          );
          await ns.sh(
            "ip",
            "-6",
            "route",
            "add",
            "default",
            "via",
            "fd00:77::fe",
          );
          await ns.sh("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
        }
      }
    } catch (e) {
      await u[Symbol.asyncDispose]();
      throw e;
    }
    return u;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const n of this.nodes) await n.ns[Symbol.asyncDispose]();
    await this.ul[Symbol.asyncDispose]();
  }
}

/** Polls `fn` until it returns true; fails after `ms` with `what`. A throw
 * counts as "not yet" (e.g. reading a device that is being recreated); the
 * last one is named in the failure. */
export async function eventually(
  what: string,
  fn: () => Promise<boolean> | boolean,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      if (await fn()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `timed out waiting for ${what}${
      last ? ` (last error: ${(last as Error).message})` : ""
    }`,
    { cause: last },
  );
}

let port = 5300 + (Deno.pid % 500);

/**
 * A TCP exchange from `src` in `from` to `dst` in `to` (iperf3 with both
 * ends bound, 1 KiB). Returns the source address the server saw (so a test
 * can tell NAT from no NAT), or null when the exchange failed. Debian's
 * iperf3 is installed by scripts/install.sh; ping (iputils) is not.
 */
export async function exchange(
  from: Netns,
  dst: string,
  src?: string,
  to?: Netns,
): Promise<string | null> {
  const server = to ?? from;
  const p = String(++port);
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      server.name,
      "iperf3",
      "-s",
      "-1",
      "-J",
      "-B",
      dst,
      "-p",
      p,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const out = child.output();
  let ok = false;
  try {
    for (let i = 0; i < 20 && !ok; i++) {
      const r = await from.run([
        "iperf3",
        "-c",
        dst,
        ...(src ? ["-B", src] : []),
        "-p",
        p,
        "-n",
        "1K",
        "--connect-timeout",
        "1500",
      ]);
      if (r.code === 0) ok = true;
      else if (!r.stderr.includes("refused") && !r.stdout.includes("refused")) {
        break;
      } else await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    if (!ok) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
    }
  }
  const text = new TextDecoder().decode((await out).stdout);
  if (!ok) return null;
  const report = JSON.parse(text) as {
    start?: { connected?: { remote_host: string }[] };
  };
  return report.start?.connected?.[0]?.remote_host ?? null;
}

/** True when a TCP exchange (see exchange()) completes. */
export async function reaches(
  from: Netns,
  dst: string,
  src?: string,
  to?: Netns,
): Promise<boolean> {
  return (await exchange(from, dst, src, to)) !== null;
}
