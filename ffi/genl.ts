// Generic netlink through libnl-genl: resolving a family name to its id
// (e.g. whether the kernel has "wireguard").

import { cstr, libs } from "./_lib.ts";
import { NetlinkError } from "./errors.ts";
import { inNetns } from "./netns.ts";
import { unwrap } from "./socket.ts";

const NLE_OBJ_NOTFOUND = 12;

/** The generic netlink family id of `name`, or null when the kernel has none. */
export function genlFamily(
  name: string,
  opts: { netns?: string } = {},
): number | null {
  const { nl, genl } = libs();
  const sk = nl.nl_socket_alloc();
  if (sk === null) throw new NetlinkError(12, "genl socket alloc");
  try {
    inNetns(opts.netns, () => unwrap(genl.genl_connect(sk), "genl connect"));
    const id = genl.genl_ctrl_resolve(sk, cstr(name));
    if (id === -NLE_OBJ_NOTFOUND) return null;
    return unwrap(id, `genl resolve ${name}`);
  } finally {
    nl.nl_socket_free(sk);
  }
}
