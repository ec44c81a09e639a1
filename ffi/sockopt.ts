// TCP_NODELAY for a listening socket Deno opened. Deno's TLS connections
// have no setNoDelay(), so small TLS records wait on Nagle's algorithm
// against the peer's delayed ACK (~40 ms per exchange). Linux copies the
// listener's TCP_NODELAY into every accepted socket, so setting it once on
// the listener fixes all of them. Deno does not expose file descriptors:
// the listener's fd is found by its socket inode (/proc/self/net/tcp{,6},
// state 0A = LISTEN) among /proc/self/fd.

import { errno, libs } from "./_lib.ts";
import { NetlinkError } from "./errors.ts";

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const LISTEN = "0A";

function listeningInodes(port: number): Set<string> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const file of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const col = line.trim().split(/\s+/);
      if (col.length > 9 && col[1].endsWith(`:${hex}`) && col[3] === LISTEN) {
        inodes.add(col[9]);
      }
    }
  }
  return inodes;
}

/** The fds of this process listening on TCP `port` (IPv4 and IPv6). */
function listenerFds(port: number): number[] {
  const inodes = listeningInodes(port);
  const fds: number[] = [];
  if (inodes.size === 0) return fds;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${e.name}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = target.match(/^socket:\[(\d+)\]$/);
    if (m && inodes.has(m[1])) fds.push(Number(e.name));
  }
  return fds;
}

/**
 * Sets TCP_NODELAY on this process's listening socket(s) on `port`, so the
 * connections it accepts from then on inherit it. Returns how many sockets
 * were set (0 when none was found).
 */
export function setListenerNoDelay(port: number): number {
  const c = libs().c;
  const one = new Int32Array([1]);
  let n = 0;
  for (const fd of listenerFds(port)) {
    if (c.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4) !== 0) {
      throw new NetlinkError(errno(), `setsockopt TCP_NODELAY port ${port}`);
    }
    n++;
  }
  return n;
}
