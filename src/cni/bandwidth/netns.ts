// Opening the container's network namespace with a CNI error when it is gone.

import { Netlink } from "../../../ffi/mod.ts";
import { CniError, ErrorCode } from "../plugin.ts";

export function netnsExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** A netlink handle inside `path`; CniError when the netns cannot be opened. */
export function openNetns(path: string): Netlink {
  if (!path || !netnsExists(path)) {
    throw new CniError(
      ErrorCode.InvalidNetns,
      `failed to open netns "${path}": no such file or directory`,
    );
  }
  try {
    return Netlink.open({ netns: path });
  } catch (err) {
    throw new CniError(
      ErrorCode.InvalidNetns,
      `failed to open netns "${path}": ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
}
