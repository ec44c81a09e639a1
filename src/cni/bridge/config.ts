// The bridge plugin's network configuration: keys, defaults, validation.

import { parseMAC } from "../../net/mod.ts";
import type { NetConf } from "../plugin.ts";
import { backendKey, invalidConfig } from "../conf.ts";

export interface BridgeConf {
  net: NetConf;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  ipMasqBackend?: "iptables" | "nftables";
  mtu: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  vlan: number;
  vlanTrunk: number[];
  preserveDefaultVlan: boolean;
  enableDad: boolean;
  disableContainerInterface: boolean;
  portIsolation: boolean;
  /** Drop frames from the container whose source MAC is not its own. */
  macSpoofChk: boolean;
  /** Requested container MAC (CNI_ARGS MAC < args.cni.mac < runtimeConfig.mac). */
  mac?: string;
}

function bool(net: NetConf, key: string, dflt: boolean): boolean {
  const v = net[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") {
    throw invalidConfig(
      `"${key}" must be true or false, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function int(net: NetConf, key: string, min: number, max: number): number {
  const v = net[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw invalidConfig(
      `"${key}" must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function trunk(net: NetConf): number[] {
  const v = net.vlanTrunk;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidConfig(`"vlanTrunk" must be a list`);
  const ids = new Set<number>();
  for (const t of v as Record<string, unknown>[]) {
    const ok = (n: unknown) =>
      typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 4094;
    if (t.id !== undefined) {
      if (!ok(t.id)) {
        throw invalidConfig(`vlanTrunk id ${t.id} is not in 1..4094`);
      }
      ids.add(t.id as number);
    }
    if (t.minID !== undefined || t.maxID !== undefined) {
      if (
        !ok(t.minID) || !ok(t.maxID) ||
        (t.minID as number) > (t.maxID as number)
      ) {
        throw invalidConfig(
          `vlanTrunk range ${t.minID}..${t.maxID} is invalid`,
        );
      }
      for (let i = t.minID as number; i <= (t.maxID as number); i++) ids.add(i);
    }
  }
  return [...ids].sort((a, b) => a - b);
}

function requestedMac(net: NetConf, args: Record<string, string>) {
  let mac: string | undefined = args.MAC;
  const cni = (net.args as { cni?: { mac?: unknown } } | undefined)?.cni;
  if (typeof cni?.mac === "string") mac = cni.mac;
  const rc = net.runtimeConfig?.mac;
  if (typeof rc === "string") mac = rc;
  if (mac === undefined) return undefined;
  try {
    parseMAC(mac);
  } catch {
    throw invalidConfig(`invalid MAC address ${JSON.stringify(mac)}`);
  }
  return mac.toLowerCase();
}

/** Parses and validates the bridge keys of `net`. */
export function parseBridgeConf(
  net: NetConf,
  args: Record<string, string> = {},
): BridgeConf {
  const bridge = net.bridge ?? "cni0";
  if (
    typeof bridge !== "string" || bridge === "" || bridge.length > 15 ||
    /[\s/:]/.test(bridge)
  ) {
    throw invalidConfig(`invalid bridge name ${JSON.stringify(bridge)}`);
  }
  const backend = backendKey(net, "ipMasqBackend");
  const conf: BridgeConf = {
    net,
    bridge,
    isDefaultGateway: bool(net, "isDefaultGateway", false),
    isGateway: bool(net, "isGateway", false),
    forceAddress: bool(net, "forceAddress", false),
    ipMasq: bool(net, "ipMasq", false),
    ipMasqBackend: backend,
    mtu: int(net, "mtu", 0, 65535),
    hairpinMode: bool(net, "hairpinMode", false),
    promiscMode: bool(net, "promiscMode", false),
    vlan: int(net, "vlan", 0, 4094),
    vlanTrunk: trunk(net),
    preserveDefaultVlan: bool(net, "preserveDefaultVlan", true),
    enableDad: bool(net, "enabledad", false),
    disableContainerInterface: bool(net, "disableContainerInterface", false),
    portIsolation: bool(net, "portIsolation", false),
    macSpoofChk: bool(net, "macspoofchk", false),
    mac: requestedMac(net, args),
  };
  if (conf.isDefaultGateway) conf.isGateway = true;
  if (conf.hairpinMode && conf.promiscMode) {
    throw invalidConfig(
      "cannot set hairpin mode and promiscuous mode at the same time",
    );
  }
  if (conf.vlan !== 0 && conf.vlanTrunk.length) {
    throw invalidConfig("cannot set vlan and vlanTrunk at the same time");
  }
  return conf;
}
