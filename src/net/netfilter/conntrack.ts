// Conntrack entry removal (the `conntrack` tool), for stale UDP flows that
// would otherwise bypass new DNAT rules.

import { type NetfilterOptions, runTool } from "./_exec.ts";
import { NetfilterError } from "./errors.ts";
import type { IpFamily } from "./iptables.ts";

/**
 * Deletes conntrack entries of `protocol` to destination port `port`;
 * returns true when some were deleted. "No entries" is not an error.
 */
export async function conntrackDeletePort(
  protocol: "udp" | "tcp" | "sctp",
  port: number,
  opts: NetfilterOptions & { family?: IpFamily } = {},
): Promise<boolean> {
  const cmd = [
    "conntrack",
    "-D",
    "-f",
    opts.family === 6 ? "ipv6" : "ipv4",
    "-p",
    protocol,
    "--dport",
    String(port),
  ];
  const r = await runTool(cmd, opts);
  if (r.code === 0) return true;
  // conntrack exits 1 with "0 flow entries have been deleted" when none match.
  if (/0 flow entries/.test(r.stderr)) return false;
  throw new NetfilterError(
    `${cmd.join(" ")} exited ${r.code}: ${r.stderr.trim()}`,
    cmd,
    r.code,
    r.stderr,
  );
}
