// wireguard-go, the userspace WireGuard device: one daemon per device,
// started in the dataplane's network namespace and in a private mount
// namespace where `<dir>` is bound on /var/run/wireguard, so its UAPI socket
// is `<dir>/<dev>.sock` whatever other namespaces on the host do with
// /var/run/wireguard. The wrapper shell writes its pid (= the daemon's, it
// execs) to `<dir>/<dev>.pid`; the daemon logs errors to `<dir>/<dev>.log`.
// To read the device with wg-tools, enter the daemon's mount namespace:
//   nsenter -t $(cat /run/flannel/wireguard/flannel-wg.pid) -m wg show flannel-wg
//
// Daemons outlive a restart of the flannel task (the device and its peers
// stay, like the vxlan device); they are stopped when the process that
// started them exits normally (the unload event), so `weft` stopping
// removes the device, as flannel does at stop.

import { FlannelError } from "../errors.ts";
import { uapiGet } from "./wg_uapi.ts";

export const WIREGUARD_GO = "wireguard-go";

export interface DaemonPaths {
  socket: string;
  pid: string;
  log: string;
}

export function daemonPaths(dir: string, dev: string): DaemonPaths {
  return {
    socket: `${dir}/${dev}.sock`,
    pid: `${dir}/${dev}.pid`,
    log: `${dir}/${dev}.log`,
  };
}

const started = new Set<number>();
let unloadHooked = false;

function hookUnload(): void {
  if (unloadHooked) return;
  unloadHooked = true;
  globalThis.addEventListener("unload", () => {
    for (const pid of started) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  });
}

/** True when the UAPI socket answers. */
export async function daemonAlive(socket: string): Promise<boolean> {
  try {
    await uapiGet(socket);
    return true;
  } catch {
    return false;
  }
}

/** The pid in the pid file when that process is a live wireguard-go. */
export async function daemonPid(paths: DaemonPaths): Promise<number | null> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(paths.pid)).trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1) return null;
  try {
    const comm = (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
    return comm === WIREGUARD_GO ? pid : null;
  } catch {
    return null;
  }
}

/** Stops the daemon of the pid file (SIGTERM) and waits up to 5 s for it. */
export async function stopDaemon(paths: DaemonPaths): Promise<void> {
  const pid = await daemonPid(paths);
  if (pid === null) return;
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    if (await daemonPid(paths) === null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  started.delete(pid);
}

async function tail(path: string): Promise<string> {
  try {
    const t = (await Deno.readTextFile(path)).trim();
    return t.length > 600 ? `\u2026${t.slice(-600)}` : t;
  } catch {
    return "";
  }
}

/**
 * Starts wireguard-go for `dev` and waits until its UAPI socket answers
 * (the TUN device exists by then). Returns the daemon's pid.
 */
export async function startDaemon(opts: {
  dev: string;
  dir: string;
  netns?: string;
}): Promise<number> {
  const paths = daemonPaths(opts.dir, opts.dev);
  await Deno.mkdir(opts.dir, { recursive: true, mode: 0o700 });
  await Deno.remove(paths.pid).catch(() => {});
  const script = 'echo $$ > "$0/$1.pid" && mkdir -p /var/run/wireguard && ' +
    'mount --bind "$0" /var/run/wireguard && ' +
    'exec wireguard-go -f "$1" >>"$0/$1.log" 2>&1';
  const args = [
    ...(opts.netns ? ["nsenter", `--net=${opts.netns}`] : []),
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "sh",
    "-c",
    script,
    opts.dir,
    opts.dev,
  ];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(args[0], {
      args: args.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env: {
        LOG_LEVEL: "error",
        WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1",
      },
    }).spawn();
  } catch (e) {
    throw new FlannelError(
      `cannot start ${args[0]} for ${WIREGUARD_GO} ${opts.dev}: ${
        (e as Error).message
      } (needs util-linux nsenter/unshare and the wireguard-go package)`,
      { cause: e },
    );
  }
  child.unref();
  let exited: Deno.CommandStatus | null = null;
  child.status.then((s) => {
    exited = s;
    started.delete(child.pid);
  });
  started.add(child.pid);
  hookUnload();
  for (let i = 0; i < 200; i++) {
    if (exited) break;
    if (await daemonAlive(paths.socket)) return child.pid;
    await new Promise((r) => setTimeout(r, 50));
  }
  const status = exited as Deno.CommandStatus | null;
  if (!status) {
    try {
      Deno.kill(child.pid, "SIGTERM");
    } catch {
      // gone meanwhile
    }
  }
  throw new FlannelError(
    `${WIREGUARD_GO} ${opts.dev} ${
      status ? `exited with code ${status.code}` : "did not answer in 10 s"
    }; its log: ${(await tail(paths.log)) || "(empty)"}`,
  );
}
