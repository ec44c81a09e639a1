// The bridge and the veth pair: creation on ADD, lookup for CHECK.

import { encodeHex } from "../../util/encoding.ts";
import { type Link, Netlink, NetlinkError } from "../../../ffi/mod.ts";
import { CniError, ErrorCode } from "../plugin.ts";
import { cniFail, trySysctl } from "../netns.ts";
import type { BridgeConf } from "./config.ts";
import { runTool } from "../../net/netfilter/mod.ts";

/** Creates the bridge (or adopts an existing one) and brings it up. */
export async function ensureBridge(
  nl: Netlink,
  conf: BridgeConf,
): Promise<Link> {
  let br = nl.linkGet(conf.bridge);
  if (!br) {
    try {
      br = nl.linkAdd({
        kind: "bridge",
        name: conf.bridge,
        ...(conf.mtu ? { mtu: conf.mtu } : {}),
      });
      // Pin the bridge's own MAC; otherwise it follows the lowest port MAC
      // and changes as containers come and go.
      nl.linkSet(br.index, { mac: br.mac });
    } catch (err) {
      if (!(err instanceof NetlinkError && err.code === "EEXIST")) {
        throw cniFail(`failed to create bridge "${conf.bridge}"`, err);
      }
      br = nl.linkGet(conf.bridge);
    }
  }
  if (!br) throw cniFail(`bridge "${conf.bridge}" vanished while creating it`);
  if (br.kind !== "bridge") {
    throw cniFail(`"${conf.bridge}" already exists but is not a bridge`);
  }
  trySysctl(`net/ipv6/conf/${conf.bridge}/accept_ra`, "0");
  nl.linkSet(br.index, {
    up: true,
    ...(conf.promiscMode ? { promisc: true } : {}),
  });
  if (conf.vlan || conf.vlanTrunk.length) {
    await tool([
      "ip",
      "link",
      "set",
      conf.bridge,
      "type",
      "bridge",
      "vlan_filtering",
      "1",
    ]);
  }
  return nl.linkGet(br.index) ?? br;
}

function randomVethName(): string {
  const b = crypto.getRandomValues(new Uint8Array(4));
  return "veth" + encodeHex(b);
}

export interface VethPair {
  host: Link;
  container: Link;
}

/**
 * Creates the veth pair with its container end `ifname` made directly in
 * `netns`; the host end gets a random `veth<8 hex>` name (retried on a
 * collision), is attached to the bridge and brought up.
 */
export async function setupVeth(
  host: Netlink,
  cont: Netlink,
  br: Link,
  conf: BridgeConf,
  netns: string,
  ifname: string,
): Promise<VethPair> {
  if (cont.linkGet(ifname)) {
    throw new CniError(
      ErrorCode.Internal,
      `container veth name "${ifname}" already exists`,
    );
  }
  let hostLink: Link | undefined;
  for (let attempt = 0; attempt < 10 && !hostLink; attempt++) {
    const name = randomVethName();
    try {
      hostLink = host.linkAdd({
        kind: "veth",
        name,
        ...(conf.mtu ? { mtu: conf.mtu } : {}),
        peer: {
          name: ifname,
          netns,
          ...(conf.mtu ? { mtu: conf.mtu } : {}),
          ...(conf.mac ? { mac: conf.mac } : {}),
        },
      });
    } catch (err) {
      if (err instanceof NetlinkError && err.code === "EEXIST") {
        if (cont.linkGet(ifname)) {
          throw new CniError(
            ErrorCode.Internal,
            `container veth name "${ifname}" already exists`,
          );
        }
        continue;
      }
      throw cniFail(`failed to create veth pair for "${ifname}"`, err);
    }
  }
  if (!hostLink) {
    throw cniFail("failed to find a free veth name after 10 tries");
  }
  try {
    trySysctl(`net/ipv6/conf/${hostLink.name}/accept_ra`, "0");
    host.linkSet(hostLink.index, { master: br.index, up: true });
    if (conf.hairpinMode) host.linkSetHairpin(hostLink.index, true);
    if (conf.portIsolation) {
      await tool([
        "bridge",
        "link",
        "set",
        "dev",
        hostLink.name,
        "isolated",
        "on",
      ]);
    }
    if (conf.vlan) {
      if (!conf.preserveDefaultVlan) {
        await tool(["bridge", "vlan", "del", "dev", hostLink.name, "vid", "1"]);
      }
      await tool([
        "bridge",
        "vlan",
        "add",
        "dev",
        hostLink.name,
        "vid",
        String(conf.vlan),
        "pvid",
        "untagged",
      ]);
    }
    for (const id of conf.vlanTrunk) {
      await tool([
        "bridge",
        "vlan",
        "add",
        "dev",
        hostLink.name,
        "vid",
        String(id),
      ]);
    }
  } catch (err) {
    try {
      host.linkDel(hostLink.index);
    } catch { /* the pair goes with it; nothing else to undo */ }
    throw err instanceof CniError
      ? err
      : cniFail(`failed to attach "${hostLink.name}"`, err);
  }
  const container = cont.linkGet(ifname);
  if (!container) throw cniFail(`veth "${ifname}" did not appear in ${netns}`);
  return { host: host.linkGet(hostLink.index) ?? hostLink, container };
}

async function tool(cmd: string[]): Promise<void> {
  const r = await runTool(cmd);
  if (r.code !== 0) {
    throw cniFail(`${cmd.join(" ")} failed: ${r.stderr.trim()}`);
  }
}

/** Waits until the host veth is operationally up (0, 50, 500, 1000, 1000 ms). */
export async function waitOperUp(nl: Netlink, index: number): Promise<void> {
  for (const ms of [0, 50, 500, 1000, 1000]) {
    if (ms) await new Promise((r) => setTimeout(r, ms));
    const l = nl.linkGet(index);
    if (l?.operState === "up") return;
  }
  throw cniFail(`host veth (index ${index}) did not become operationally up`);
}
