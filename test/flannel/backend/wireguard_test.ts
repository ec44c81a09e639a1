// The wireguard backend for real: nodes in namespaces on an underlay bridge,
// each with a wireguard-go device programmed through WireguardBackend, read
// back independently with `wg show <dev> dump` (run in the daemon's mount
// namespace, where its UAPI socket is at /var/run/wireguard) and `ip -j`,
// and TCP between pod-side addresses across the tunnel. Every wireguard-go
// started here is killed by its pid in finally.

import { assert, assertEquals, assertRejects } from "@std/assert";
import { Netlink } from "../../../ffi/mod.ts";
import { CIDR, IP } from "../../../src/net/mod.ts";
import {
  type Lease,
  NetConfError,
  parseNetConf,
  selectInterface,
} from "../../../src/flannel/mod.ts";
import { WireguardBackend } from "../../../src/flannel/backend/wireguard.ts";
import { createBackend } from "../../../src/flannel/backend/mod.ts";
import { run } from "../../harness/netns.ts";
import type { Netns } from "../../harness/netns.ts";
import { reaches, Underlay } from "../_underlay.ts";
import { configureDual } from "./_dual_lease.ts";

const PSK = "eWVsbG93IHN1Ym1hcmluZSB3aXRoIGtleXMgMzIgYnk=";
const CONF = JSON.stringify({
  Network: "10.42.0.0/16",
  Backend: { Type: "wireguard", PersistentKeepaliveInterval: 25, PSK },
});

interface Node {
  ns: Netns;
  nl: Netlink;
  runDir: string;
  be: WireguardBackend;
  lease: Lease;
  logs: string[];
}

function backend(ns: Netns, nl: Netlink, runDir: string, logs: string[]) {
  return new WireguardBackend({
    nl,
    conf: parseNetConf(CONF),
    ext: selectInterface(nl, {}),
    log: (m) => logs.push(m),
    runDir,
    netns: ns.path,
  });
}

/** Kills (by pid) every wireguard-go whose pid file is under `dir`. */
async function killDaemons(dir: string): Promise<void> {
  const pids: number[] = [];
  for await (const e of walk(dir)) {
    if (!e.endsWith(".pid")) continue;
    const pid = Number((await Deno.readTextFile(e)).trim());
    try {
      const comm = (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
      if (comm !== "wireguard-go") continue;
      Deno.kill(pid, "SIGKILL");
      pids.push(pid);
    } catch {
      // already gone
    }
  }
  for (const pid of pids) {
    for (let i = 0; i < 100; i++) {
      try {
        await Deno.stat(`/proc/${pid}`);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function* walk(dir: string): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return;
  }
  for (const e of entries) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(p);
    else yield p;
  }
}

/** Nodes with their devices, the pod-side address 10.42.<i+1>.1 on a cni0 bridge. */
async function withNodes(
  n: number,
  fn: (nodes: Node[], u: Underlay, dir: string) => Promise<void>,
): Promise<void> {
  await using u = await Underlay.create(n);
  const dir = await Deno.makeTempDir({ prefix: "weft-wg-" });
  const nodes: Node[] = [];
  try {
    for (const [i, un] of u.nodes.entries()) {
      await un.ns.sh("ip", "link", "add", "cni0", "type", "bridge");
      await un.ns.sh("ip", "addr", "add", `10.42.${i + 1}.1/24`, "dev", "cni0");
      await un.ns.sh("ip", "link", "set", "cni0", "up");
      const nl = Netlink.open({ netns: un.ns.path });
      const runDir = `${dir}/n${i}`;
      const logs: string[] = [];
      const be = backend(un.ns, nl, runDir, logs);
      const subnet = CIDR.parse(`10.42.${i + 1}.0/24`);
      nodes.push({
        ns: un.ns,
        nl,
        runDir,
        be,
        logs,
        lease: {
          node: `n${i}`,
          subnet,
          ipv6Subnet: null,
          publicIP: IP.parse(un.ip),
          publicIPv6: null,
          backendType: "wireguard",
          backendData: null,
          backendV6Data: null,
        },
      });
      await be.configure({ subnet });
      nodes[i].lease.backendData = be.backendData();
    }
    await fn(nodes, u, dir);
  } finally {
    await killDaemons(dir);
    for (const n of nodes) n.nl.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const others = (nodes: Node[], me: Node) =>
  nodes.filter((n) => n !== me).map((n) => n.lease);

interface Dump {
  publicKey: string;
  listenPort: number;
  peers: {
    key: string;
    psk: string;
    endpoint: string;
    allowed: string;
    keepalive: string;
  }[];
}

/** `wg show <dev> dump` in the namespaces of the device's wireguard-go. */
async function dump(
  n: { runDir: string },
  dev = "flannel-wg",
): Promise<Dump> {
  const pid = Number(
    (await Deno.readTextFile(`${n.runDir}/wireguard/${dev}.pid`)).trim(),
  );
  const r = await run([
    "nsenter",
    "-t",
    String(pid),
    "-m",
    "-n",
    "wg",
    "show",
    dev,
    "dump",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const [head, ...rest] = r.stdout.trim().split("\n").map((l) => l.split("\t"));
  return {
    publicKey: head[1],
    listenPort: Number(head[2]),
    peers: rest.map((p) => ({
      key: p[0],
      psk: p[1],
      endpoint: p[2],
      allowed: p[3],
      keepalive: p[7],
    })).sort((a, b) => a.endpoint.localeCompare(b.endpoint)),
  };
}

/**
 * TCP from node `from`'s pod side to `to`'s across the tunnel. A handshake
 * that has to be retried (WireGuard waits 5 s between initiations) outlasts
 * one exchange's connect timeout, so this keeps trying for 20 s and fails
 * with both devices' state.
 */
async function tcp(from: Node, to: Node, fromIP: string, toIP: string) {
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    if (await reaches(from.ns, toIP, fromIP, to.ns)) return;
  }
  throw new Error(
    `no TCP ${fromIP} -> ${toIP}; ${JSON.stringify(await dump(from))} ${
      JSON.stringify(await dump(to))
    }`,
  );
}

async function wgPubkey(privateKey: string): Promise<string> {
  const p = new Deno.Command("wg", {
    args: ["pubkey"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(privateKey));
  await w.close();
  return new TextDecoder().decode((await p.output()).stdout).trim();
}

Deno.test("wireguard: a peer per lease, TCP between pods across the tunnel, a removed lease removes its peer", async () => {
  await withNodes(3, async (nodes) => {
    const [a, b, c] = nodes;
    for (const n of nodes) {
      for (const l of others(nodes, n)) await n.be.addLease(l);
    }

    // The device: a TUN of wireguard-go, MTU 1500 - 80, our subnet IP /32,
    // the whole network routed to it with scope link.
    const [link] = await a.ns.json<
      { mtu: number; linkinfo?: { info_kind: string } }[]
    >("ip", "-j", "-d", "link", "show", "flannel-wg");
    assertEquals(link.mtu, 1420);
    assertEquals(link.linkinfo?.info_kind, "tun");
    assertEquals(a.be.mtu, 1420);
    const addrs = await a.ns.json<
      { addr_info: { local: string; prefixlen: number }[] }[]
    >("ip", "-4", "-j", "addr", "show", "dev", "flannel-wg");
    assertEquals(
      addrs[0].addr_info.map((x) => `${x.local}/${x.prefixlen}`),
      ["10.42.1.0/32"],
    );
    const routes = await a.ns.json<{ dst: string; scope: string }[]>(
      "ip",
      "-j",
      "route",
      "show",
      "dev",
      "flannel-wg",
    );
    assertEquals(routes.map((r) => `${r.dst} ${r.scope}`), [
      "10.42.0.0/16 link",
    ]);

    // backend-data and the peers as wg reads them.
    const d = await dump(a);
    assertEquals(a.be.backendData(), { PublicKey: d.publicKey, Port: 51820 });
    assertEquals(d.listenPort, 51820);
    assertEquals(d.peers, [
      {
        key: (b.lease.backendData as { PublicKey: string }).PublicKey,
        psk: PSK,
        endpoint: "192.168.77.2:51820",
        allowed: "10.42.2.0/24",
        keepalive: "25",
      },
      {
        key: (c.lease.backendData as { PublicKey: string }).PublicKey,
        psk: PSK,
        endpoint: "192.168.77.3:51820",
        allowed: "10.42.3.0/24",
        keepalive: "25",
      },
    ]);

    // TCP from pod side to pod side, through the tunnel only.
    await tcp(a, b, "10.42.1.1", "10.42.2.1");
    await tcp(c, a, "10.42.3.1", "10.42.1.1");
    const after = await dump(a);
    assert(
      after.peers.every((p) => p.endpoint.endsWith(":51820")),
      JSON.stringify(after.peers),
    );

    // n2's lease goes: its peer goes (by public key), n1's stays.
    await a.be.removeLease(c.lease);
    assertEquals((await dump(a)).peers.map((p) => p.endpoint), [
      "192.168.77.2:51820",
    ]);
    assert(!(await reaches(c.ns, "10.42.1.1", "10.42.3.1", a.ns)), "c -> a");
    await tcp(a, b, "10.42.1.1", "10.42.2.1");
  });
});

Deno.test("wireguard: key file 0400 reused across a task restart, device and peers kept", async () => {
  await withNodes(2, async (nodes) => {
    const [a, b] = nodes;
    await a.be.addLease(b.lease);
    await b.be.addLease(a.lease);
    const keyFile = `${a.runDir}/wgkey`;
    assertEquals((await Deno.stat(keyFile)).mode! & 0o777, 0o400);
    const key = await Deno.readTextFile(keyFile);
    const pub = (a.lease.backendData as { PublicKey: string }).PublicKey;
    assertEquals(await wgPubkey(key), pub);
    const pid = await a.be.pid();

    // The task restarts: a new backend reads the same key, reuses the live
    // device, and finds nothing to change.
    const again = backend(a.ns, a.nl, a.runDir, a.logs);
    await again.configure({ subnet: a.lease.subnet });
    assertEquals(again.backendData().PublicKey, pub);
    assertEquals(await again.pid(), pid);
    assertEquals(await again.reconcile([b.lease]), {
      recreated: false,
      fixed: 0,
      removed: 0,
    });
    assertEquals(await Deno.readTextFile(keyFile), key);
    await tcp(a, b, "10.42.1.1", "10.42.2.1");
  });
});

Deno.test("wireguard: reconcile removes a planted peer, restores a missing one, recreates a dead daemon's device", async () => {
  await withNodes(2, async (nodes) => {
    const [a, b] = nodes;
    await a.be.addLease(b.lease);
    await b.be.addLease(a.lease);
    const pid = await a.be.pid();
    assert(pid !== null);

    // A foreign peer planted with wg, and b's peer removed behind our back.
    const foreign = (await run(["wg", "genkey"])).stdout.trim();
    const foreignPub = await wgPubkey(foreign);
    const bPub = (b.lease.backendData as { PublicKey: string }).PublicKey;
    const wgSet = (...args: string[]) =>
      run([
        "nsenter",
        "-t",
        String(pid),
        "-m",
        "-n",
        "wg",
        "set",
        "flannel-wg",
        ...args,
      ]);
    assertEquals(
      (await wgSet("peer", foreignPub, "allowed-ips", "10.99.0.0/24")).code,
      0,
    );
    assertEquals((await wgSet("peer", bPub, "remove")).code, 0);
    assertEquals((await dump(a)).peers.map((p) => p.key), [foreignPub]);

    assertEquals(await a.be.reconcile([b.lease]), {
      recreated: false,
      fixed: 1,
      removed: 1,
    });
    assertEquals((await dump(a)).peers.map((p) => `${p.key} ${p.allowed}`), [
      `${bPub} 10.42.2.0/24`,
    ]);

    // The daemon dies (killed by its pid): the device is gone; reconcile
    // starts a new one with the same key and the peers.
    Deno.kill(pid!, "SIGKILL");
    for (let i = 0; i < 100 && a.nl.linkGet("flannel-wg"); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await a.be.reconcile([b.lease]);
    assertEquals(r.recreated, true);
    const newPid = await a.be.pid();
    assert(newPid !== null && newPid !== pid);
    const d = await dump(a);
    assertEquals(
      d.publicKey,
      (a.lease.backendData as { PublicKey: string }).PublicKey,
    );
    assertEquals(d.peers.map((p) => p.key), [bPub]);
    await tcp(a, b, "10.42.1.1", "10.42.2.1");
  });
});

Deno.test("wireguard dual-stack (separate mode): flannel-wg and flannel-wg-v6 on their own ports, IPv6 pods across the tunnel", async () => {
  await using u = await Underlay.create(2, { v6: true });
  const dir = await Deno.makeTempDir({ prefix: "weft-wg-" });
  const conf = parseNetConf(JSON.stringify({
    Network: "10.42.0.0/16",
    EnableIPv6: true,
    IPv6Network: "fd42::/56",
    Backend: { Type: "wireguard" },
  }));
  const nls: Netlink[] = [];
  try {
    const parts = [];
    for (const [i, n] of u.nodes.entries()) {
      await n.ns.sh("ip", "link", "add", "cni0", "type", "bridge");
      await n.ns.sh(
        "ip",
        "addr",
        "add",
        `fd42:0:0:${i + 1}::1/64`,
        "dev",
        "cni0",
        "nodad",
      );
      await n.ns.sh("ip", "link", "set", "cni0", "up");
      const nl = Netlink.open({ netns: n.ns.path });
      nls.push(nl);
      const runDir = `${dir}/n${i}`;
      const be = await createBackend({
        nl,
        conf,
        ext: selectInterface(nl, {}, { v4: true, v6: true }),
        log: () => {},
        runDir,
        netns: n.ns.path,
      });
      const lease = await configureDual(be, i, n.ip, "wireguard");
      parts.push({ be, lease, ns: n.ns, runDir });
    }
    const [a, b] = parts;
    assertEquals(a.be.devices, ["flannel-wg", "flannel-wg-v6"]);
    assertEquals(a.lease.backendV6Data, {
      PublicKey: (a.lease.backendData as { PublicKey: string }).PublicKey,
      Port: 51821,
    });
    await a.be.addLease(b.lease);
    await b.be.addLease(a.lease);

    const d6 = await dump(a, "flannel-wg-v6");
    assertEquals(d6.listenPort, 51821);
    assertEquals(
      d6.peers.map((p) => `${p.endpoint} ${p.allowed}`),
      ["[fd00:77::2]:51821 fd42:0:0:2::/64"],
    );
    assertEquals(
      (await dump(a)).peers.map((p) => `${p.endpoint} ${p.allowed}`),
      ["192.168.77.2:51820 10.42.2.0/24"],
    );
    const addrs = await a.ns.json<
      { addr_info: { local: string; prefixlen: number }[] }[]
    >(
      "ip",
      "-6",
      "-j",
      "addr",
      "show",
      "dev",
      "flannel-wg-v6",
      "scope",
      "global",
    );
    assertEquals(
      addrs[0].addr_info.filter((x) => x.local).map((x) =>
        `${x.local}/${x.prefixlen}`
      ),
      ["fd42:0:0:1::/128"],
    );
    const routes = await a.ns.json<{ dst: string }[]>(
      "ip",
      "-6",
      "-j",
      "route",
      "show",
      "dev",
      "flannel-wg-v6",
    );
    assert(routes.some((r) => r.dst === "fd42::/56"), JSON.stringify(routes));

    const end = Date.now() + 20_000;
    let ok = false;
    while (!ok && Date.now() < end) {
      ok = await reaches(a.ns, "fd42:0:0:2::1", "fd42:0:0:1::1", b.ns);
    }
    assert(ok, "TCP fd42:0:0:1::1 -> fd42:0:0:2::1 across flannel-wg-v6");
    assertEquals(await a.be.reconcile([b.lease]), {
      recreated: false,
      fixed: 0,
      removed: 0,
    });
  } finally {
    await killDaemons(dir);
    for (const nl of nls) nl.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wireguard: a flannel-wg that is not a live wireguard-go (another kind of link) is replaced", async () => {
  await using u = await Underlay.create(1);
  const dir = await Deno.makeTempDir({ prefix: "weft-wg-" });
  const ns = u.nodes[0].ns;
  using nl = Netlink.open({ netns: ns.path });
  try {
    await ns.sh("ip", "link", "add", "flannel-wg", "type", "bridge");
    const logs: string[] = [];
    const be = backend(ns, nl, `${dir}/n0`, logs);
    await be.configure({ subnet: CIDR.parse("10.42.1.0/24") });
    assert(
      logs.some((l) => l.includes("incompatible type bridge")),
      logs.join("\n"),
    );
    const [link] = await ns.json<{ linkinfo?: { info_kind: string } }[]>(
      "ip",
      "-j",
      "-d",
      "link",
      "show",
      "flannel-wg",
    );
    assertEquals(link.linkinfo?.info_kind, "tun");
    assertEquals((await dump({ runDir: `${dir}/n0` })).listenPort, 51820);
  } finally {
    await killDaemons(dir);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wireguard: bad PSK, malformed key file and unsupported modes are clear errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-wg-" });
  try {
    using nl = Netlink.open();
    const ext = {
      name: "eth0",
      index: 1,
      mtu: 1500,
      ifaceAddr: IP.parse("192.168.77.1"),
      ifaceAddr6: null,
      extAddr: IP.parse("192.168.77.1"),
      extAddr6: null,
    };
    const make = (backend: object, extra = {}) =>
      new WireguardBackend({
        nl,
        conf: parseNetConf(
          JSON.stringify({
            Network: "10.42.0.0/16",
            ...extra,
            Backend: { Type: "wireguard", ...backend },
          }),
        ),
        ext,
        log: () => {},
        runDir: dir,
      });
    let err: unknown = null;
    try {
      make({ PSK: "c2hvcnQ=" });
    } catch (e) {
      err = e;
    }
    assert(
      err instanceof NetConfError && err.key === "Backend.PSK",
      String(err),
    );
    err = null;
    try {
      make({ Mode: "auto" }, { EnableIPv6: true, IPv6Network: "fd42::/56" });
    } catch (e) {
      err = e;
    }
    assert(
      err instanceof NetConfError && err.key === "Backend.Mode",
      String(err),
    );
    assertEquals(make({ Mode: "ipv4" }).device, "flannel-wg");

    await Deno.writeTextFile(`${dir}/wgkey`, "not a key\n");
    await assertRejects(
      () => make({}).configure({ subnet: CIDR.parse("10.42.1.0/24") }),
      Error,
      "remove it to generate a new key",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
