// The exec'd plugins' thin client: with an agent serving the CNI socket the
// agent runs each operation; without one the plugin runs in its own
// process. Both paths leave the same links, addresses, routes, netfilter
// rules and host-local files, and ADD, CHECK, GC, STATUS and DEL all pass
// through both (the runtime execs the installer's wrappers, bundled).

import { assert, assertEquals } from "@std/assert";
import { Netns } from "../harness/netns.ts";
import { natRules, netSnapshot } from "../harness/cni_ns.ts";
import { installPlugins } from "../../src/cli/cni_install.ts";
import {
  type ExecCni,
  execCni,
  ipFiles,
  writeK3sConflist,
} from "./_helpers.ts";
import { startServer } from "./_agent_server.ts";

/** The ADD result without what differs on every ADD (MACs, veth names). */
function scrub(result: { interfaces?: { name: string; mac?: string }[] }) {
  for (const i of result.interfaces ?? []) {
    delete i.mac;
    i.name = i.name.replace(/^veth[0-9a-f]{8}$/, "veth*");
  }
  return result;
}

/**
 * The installer's plugins in `dir/bin` and weft's one-plugin conflist (K3s's
 * flannel entry declaring the portMappings and bandwidth capabilities).
 */
async function weftConflist(dir: string, subnet: string, cniVersion?: string) {
  const bin = `${dir}/bin`;
  await installPlugins(bin);
  const conflist = writeK3sConflist(dir, "10-flannel.conflist", subnet, []);
  const list = JSON.parse(Deno.readTextFileSync(conflist));
  list.plugins[0].capabilities = { portMappings: true, bandwidth: true };
  if (cniVersion) list.cniVersion = cniVersion;
  Deno.writeTextFileSync(conflist, JSON.stringify(list));
  return { bin, conflist };
}

const PORTS = {
  portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }],
};

Deno.test("through the agent and through the fallback, ADD/CHECK/GC/STATUS/DEL leave the same links, addresses, routes, rules and files", async () => {
  await using host = await Netns.create("asvh");
  await using pod = await Netns.create("asvp");
  const dir = await Deno.makeTempDir({ prefix: "weft-agent-served-" });
  try {
    const { bin, conflist } = await weftConflist(dir, "10.42.7.1/24", "1.1.0");
    const socket = `${dir}/cni.sock`;
    await using server = await startServer(host, socket);

    const cni = (sock: string, verb: ExecCni["verb"]) =>
      execCni(host, {
        verb,
        conflist,
        bin,
        cache: `${dir}/cache`,
        netns: pod.path,
        cid: "pod1",
        socket: sock,
        caps: JSON.stringify(PORTS),
      });
    const picture = async () => ({
      host: await netSnapshot(host),
      pod: await netSnapshot(pod),
      nat: await natRules(host),
      ips: ipFiles(`${dir}/ipam/cbr0`),
    });

    const seen: Record<string, unknown>[] = [];
    for (const sock of [socket, `${dir}/absent.sock`]) {
      // A fresh host-local store: both rounds allocate the same address.
      await Deno.remove(`${dir}/ipam`, { recursive: true }).catch(() => {});
      const before = server.served.length;
      const added = scrub(JSON.parse(await cni(sock, "add")));
      const attached = await picture();
      await cni(sock, "check");
      await cni(sock, "status");
      await cni(sock, "gc");
      assertEquals(await picture(), attached, "GC changed a live pod");
      await cni(sock, "del");
      // The agent deletes the veth and ifb after its answer: wait for it.
      if (sock === socket) await server.settled(before + 5);
      const detached = await picture();
      const ops = server.served.slice(before).map((s) => s.command);
      seen.push({ added, attached, detached, ops });
    }
    const [agent, fallback] = seen;
    // The agent ran every operation of the first round, none of the second.
    assertEquals(agent.ops, ["ADD", "CHECK", "STATUS", "GC", "DEL"]);
    assertEquals(fallback.ops, []);
    assertEquals(
      { ...agent, ops: null },
      { ...fallback, ops: null },
    );
    const a = agent.attached as Awaited<ReturnType<typeof picture>>;
    assertEquals(a.ips, ["10.42.7.2"]);
    assert(
      a.nat.some((l) => l.includes("--to-destination 10.42.7.2:80")),
      "no DNAT rule",
    );
    assertEquals((agent.detached as typeof a).ips, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("through the agent, DEL's deferred veth deletion runs before the next operation: ADD/DEL of one pod in one netns, five times over", async () => {
  await using host = await Netns.create("asdh");
  await using pod = await Netns.create("asdp");
  const dir = await Deno.makeTempDir({ prefix: "weft-agent-defer-" });
  try {
    const { bin, conflist } = await weftConflist(dir, "10.42.8.1/24");
    const socket = `${dir}/cni.sock`;
    await using server = await startServer(host, socket);
    const cni = (verb: ExecCni["verb"]) =>
      execCni(host, {
        verb,
        conflist,
        bin,
        cache: `${dir}/cache`,
        netns: pod.path,
        cid: "pod1",
        socket,
      });
    for (let i = 0; i < 5; i++) {
      // No wait between DEL and ADD: the agent runs the ADD only after the
      // previous DEL's deferred deletion of eth0 (else "already exists").
      await cni("add");
      // The IP file is whole at the answer (only its fsync is deferred).
      const held = ipFiles(`${dir}/ipam/cbr0`);
      assertEquals(held.length, 1, `round ${i}: ${held}`);
      assertEquals(
        Deno.readTextFileSync(`${dir}/ipam/cbr0/${held[0]}`),
        "pod1\r\neth0",
      );
      await cni("del");
    }
    await server.settled(10);
    assertEquals(server.served.map((s) => s.code), new Array(10).fill(0));
    const links = await pod.run(["ip", "-j", "link", "show"]);
    const names = (JSON.parse(links.stdout) as { ifname: string }[])
      .map((l) => l.ifname);
    assertEquals(names, ["lo"], "eth0 is gone once the DEL settled");
    assertEquals(ipFiles(`${dir}/ipam/cbr0`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
