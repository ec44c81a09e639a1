// Programs 1000 remote VXLAN leases the way flannel's vxlan backend does
// (per lease: permanent neighbour, FDB entry with dst, onlink route = 3000
// operations) into flannel.1 of a fresh namespace, once through ffi/ and once
// with iproute2 in batch mode, and prints ops/s of each and the ratio.
//
// The iproute2 side runs `ip -n NS -batch FILE` (neigh replace + route
// replace lines, interleaved per lease) and `bridge -n NS -batch FILE` (fdb
// replace lines); its time includes starting those two processes, as a
// caller shelling out would pay. The ffi side includes opening its socket.
// Both use replace semantics. Each side runs ROUNDS times in fresh
// namespaces; the best round counts.

import { Netlink } from "../ffi/mod.ts";
import { Netns } from "../test/harness/netns.ts";
import { iproute2Batch, vethUplink, vxlanDevice } from "./_util.ts";

const LEASES = 1000;
const ROUNDS = 5;
const OPS = LEASES * 3;

interface Lease {
  subnetIp: string;
  cidr: string;
  mac: string;
  publicIp: string;
}

function leases(): Lease[] {
  const out: Lease[] = [];
  for (let i = 0; i < LEASES; i++) {
    const [hi, lo] = [i >> 8, i & 0xff];
    const hex = (n: number) => n.toString(16).padStart(2, "0");
    out.push({
      subnetIp: `10.${100 + hi}.${lo}.0`,
      cidr: `10.${100 + hi}.${lo}.0/24`,
      mac: `0a:58:00:00:${hex(hi)}:${hex(lo)}`,
      publicIp: `192.168.${10 + hi}.${lo}`,
    });
  }
  return out;
}

async function setup(ns: Netns): Promise<void> {
  await vethUplink(ns, "192.168.0.1/16", "eth0p");
  await vxlanDevice(ns, "192.168.0.1", "10.42.0.0/32");
}

async function verify(ns: Netns): Promise<void> {
  const count = async (...cmd: string[]) =>
    (await ns.json<unknown[]>(...cmd)).length;
  const neigh = await count(
    "ip",
    "-j",
    "neigh",
    "show",
    "dev",
    "flannel.1",
    "nud",
    "permanent",
  );
  const routes = await count("ip", "-j", "route", "show", "dev", "flannel.1");
  const fdb = (await ns.json<{ dst?: string }[]>(
    "bridge",
    "-j",
    "fdb",
    "show",
    "dev",
    "flannel.1",
  ))
    .filter((f) => f.dst).length;
  if (neigh !== LEASES || routes !== LEASES || fdb !== LEASES) {
    throw new Error(
      `expected ${LEASES} of each, found neigh ${neigh}, routes ${routes}, fdb ${fdb}`,
    );
  }
}

function runFfi(ns: Netns, ls: Lease[]): number {
  const t0 = performance.now();
  {
    using nl = Netlink.open({ netns: ns.path });
    for (const l of ls) {
      nl.neighSet("flannel.1", l.subnetIp, l.mac);
      nl.fdbSet("flannel.1", l.mac, l.publicIp);
      nl.routeReplace({
        dst: l.cidr,
        gw: l.subnetIp,
        dev: "flannel.1",
        onlink: true,
      });
    }
  }
  return performance.now() - t0;
}

function runIp(ns: Netns, ls: Lease[], dir: string): Promise<number> {
  return iproute2Batch(
    ns,
    dir,
    ls.map((l) => ({
      cidr: l.cidr,
      gw: l.subnetIp,
      mac: l.mac,
      dst: l.publicIp,
    })),
  );
}

async function round(
  kind: "ffi" | "ip",
  ls: Lease[],
  dir: string,
): Promise<number> {
  await using ns = await Netns.create(`bench-${kind}`);
  await setup(ns);
  const ms = kind === "ffi" ? runFfi(ns, ls) : await runIp(ns, ls, dir);
  await verify(ns);
  return ms;
}

const ls = leases();
const dir = await Deno.makeTempDir({ prefix: "weft-netlink-bench-" });
try {
  const best = { ffi: Infinity, ip: Infinity };
  for (let r = 0; r < ROUNDS; r++) {
    best.ip = Math.min(best.ip, await round("ip", ls, dir));
    best.ffi = Math.min(best.ffi, await round("ffi", ls, dir));
  }
  const rate = (ms: number) => OPS / (ms / 1000);
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  console.log(
    `${LEASES} VXLAN leases = ${OPS} ops (neigh + fdb + onlink route), best of ${ROUNDS}`,
  );
  console.log(
    `weft ffi/      ${fmt(rate(best.ffi)).padStart(9)} ops/s  (${
      best.ffi.toFixed(1)
    } ms)`,
  );
  console.log(
    `ip/bridge -batch ${fmt(rate(best.ip)).padStart(7)} ops/s  (${
      best.ip.toFixed(1)
    } ms)`,
  );
  console.log(`ratio weft/ip  ${(rate(best.ffi) / rate(best.ip)).toFixed(2)}x`);
} finally {
  await Deno.remove(dir, { recursive: true });
}
