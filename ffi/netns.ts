// Entering a network namespace by path on the calling thread (setns through
// libc) for the length of one synchronous function, and sysctl in a netns.

import { cstr, errno, libs } from "./_lib.ts";
import { NetlinkError } from "./errors.ts";

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const CLONE_NEWNET = 0x40000000;

export function openFd(path: string, op: string): number {
  const fd = libs().c.open(cstr(path), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw new NetlinkError(errno(), op, { detail: path });
  return fd;
}

function enter(fd: number, op: string): void {
  if (libs().c.setns(fd, CLONE_NEWNET) !== 0) {
    throw new NetlinkError(errno(), op);
  }
}

/**
 * Runs the synchronous `fn` with the calling thread inside the network
 * namespace at `path` (/run/netns/x, /proc/<pid>/ns/net), and puts the thread
 * back into its original namespace afterwards, also when `fn` throws.
 */
export function withNetns<T>(path: string, fn: () => T): T {
  const op = `setns ${path}`;
  const c = libs().c;
  const target = openFd(path, op);
  let orig: number;
  try {
    orig = openFd("/proc/thread-self/ns/net", op);
  } catch (e) {
    c.close(target);
    throw e;
  }
  try {
    enter(target, op);
    let result: T | undefined;
    let failure: unknown;
    let failed = false;
    try {
      result = fn();
    } catch (e) {
      failed = true;
      failure = e;
    }
    if (c.setns(orig, CLONE_NEWNET) !== 0) {
      // The thread would stay in the wrong namespace; nothing after this
      // point could be trusted.
      throw new NetlinkError(errno(), `restore netns after ${op}`, {
        cause: failure,
      });
    }
    if (failed) throw failure;
    if (result instanceof Promise) {
      throw new TypeError(
        `withNetns(${path}) needs a synchronous function: an async one would continue outside the namespace`,
      );
    }
    return result as T;
  } finally {
    c.close(orig);
    c.close(target);
  }
}

/** Runs fn inside `netns` when given, else directly. */
export function inNetns<T>(netns: string | undefined, fn: () => T): T {
  return netns === undefined ? fn() : withNetns(netns, fn);
}

function sysctlPath(key: string): string {
  const rel = key.includes("/")
    ? key.replace(/^\/+/, "")
    : key.replaceAll(".", "/");
  if (
    rel === "" ||
    rel.split("/").some((p) => p === "" || p === "." || p === "..")
  ) {
    throw new TypeError(
      `invalid sysctl key "${key}": use "net.ipv4.ip_forward" or "net/ipv4/ip_forward"`,
    );
  }
  return `/proc/sys/${rel}`;
}

function fsErrno(e: unknown): number {
  if (e instanceof Deno.errors.NotFound) return 2;
  if (e instanceof Deno.errors.PermissionDenied) return 13;
  const code = (e as { code?: string }).code;
  const table: Record<string, number> = {
    EINVAL: 22,
    EPERM: 1,
    EACCES: 13,
    ENOENT: 2,
    EROFS: 30,
  };
  return (code && table[code]) || 5;
}

/** Reads a sysctl ("net.ipv4.ip_forward"), inside `netns` when given. */
export function sysctlGet(key: string, opts: { netns?: string } = {}): string {
  const path = sysctlPath(key);
  try {
    return inNetns(opts.netns, () => Deno.readTextFileSync(path)).replace(
      /\n$/,
      "",
    );
  } catch (e) {
    if (e instanceof NetlinkError || e instanceof TypeError) throw e;
    throw new NetlinkError(fsErrno(e), `sysctl get ${key}`, { cause: e });
  }
}

/** Writes a sysctl, inside `netns` when given. */
export function sysctlSet(
  key: string,
  value: string,
  opts: { netns?: string } = {},
): void {
  const path = sysctlPath(key);
  try {
    inNetns(
      opts.netns,
      () => Deno.writeTextFileSync(path, value, { create: false }),
    );
  } catch (e) {
    if (e instanceof NetlinkError || e instanceof TypeError) throw e;
    throw new NetlinkError(fsErrno(e), `sysctl set ${key}=${value}`, {
      cause: e,
    });
  }
}
