// Which netfilter API portmap uses, decided without running anything: the
// configured backend, else iptables when `iptables-restore` is on PATH (the
// reference's default), else nftables when `nft` is. Probing by exec would
// cost a process start per pod operation.

import type { Backend } from "../../net/netfilter/mod.ts";

/** True when an executable `name` is in one of PATH's directories. */
export function onPath(name: string, path: string): boolean {
  for (const dir of path.split(":")) {
    if (!dir) continue;
    try {
      const st = Deno.statSync(`${dir}/${name}`);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** The backend for `requested` (undefined: pick by what is installed). */
export function pickBackend(
  requested: Backend | undefined,
  path = Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
): Backend {
  if (requested) return requested;
  if (onPath("iptables-restore", path)) return "iptables";
  if (onPath("nft", path)) return "nftables";
  return "iptables";
}
