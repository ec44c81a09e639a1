// What every plugin does with netlink: open the container's network
// namespace (a CNI error when it is gone), set a sysctl that may be missing,
// and turn a netlink failure into a CNI error that keeps it as the cause.

import { Netlink, NetlinkError, sysctlSet } from "../../ffi/mod.ts";
import { CniError, ErrorCode } from "./plugin.ts";

export function netnsExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A netlink handle inside `path`; a CniError with `code` (InvalidNetns
 * unless given) when the namespace cannot be opened.
 */
export function openNetns(
  path: string,
  code: number = ErrorCode.InvalidNetns,
): Netlink {
  if (!netnsExists(path)) {
    throw new CniError(
      code,
      `failed to open netns "${path}": no such file or directory`,
    );
  }
  try {
    return Netlink.open({ netns: path });
  } catch (err) {
    throw new CniError(
      code,
      `failed to open netns "${path}": ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
}

/** Sets a sysctl, ignoring a missing key (IPv6 disabled, a gone device). */
export function trySysctl(key: string, value: string, netns?: string): void {
  try {
    sysctlSet(key, value, { netns });
  } catch (err) {
    if (err instanceof NetlinkError && err.code === "ENOENT") return;
    throw err;
  }
}

/** An internal CniError "msg: <netlink op>: <errno name>" (or the message). */
export function cniFail(msg: string, err?: unknown): CniError {
  const why = err === undefined
    ? ""
    : `: ${
      err instanceof NetlinkError
        ? `${err.op}: ${err.code}`
        : (err as Error).message
    }`;
  return new CniError(ErrorCode.Internal, msg + why, undefined, { cause: err });
}
