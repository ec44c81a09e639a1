// Leases in kube subnet manager mode: a node's pod CIDR(s) plus what its
// flannel published in annotations, read and written with flannel's keys and
// value formats so weft and flannel nodes understand each other.

import { CIDR, IP } from "../net/mod.ts";

/** The parts of a Kubernetes Node the subnet manager reads. */
export interface KubeNode {
  metadata: {
    name: string;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
  status?: {
    conditions?: NodeCondition[];
    addresses?: { type: string; address: string }[];
  };
}

export interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
}

export interface Lease {
  node: string;
  subnet: CIDR | null;
  ipv6Subnet: CIDR | null;
  publicIP: IP | null;
  publicIPv6: IP | null;
  backendType: string;
  /** Parsed backend-data JSON (vxlan: {VNI, VtepMAC}; host-gw: null). */
  backendData: unknown;
  backendV6Data: unknown;
}

export interface AnnotationKeys {
  subnetKubeManaged: string;
  backendType: string;
  backendData: string;
  backendV6Data: string;
  publicIP: string;
  publicIPv6: string;
  publicIPOverwrite: string;
  publicIPv6Overwrite: string;
  nodePublicIP: string;
  nodePublicIPv6: string;
}

export const DEFAULT_ANNOTATION_PREFIX = "flannel.alpha.coreos.com";

/** flannel's annotation keys under a prefix ("/" appended when missing). */
export function annotationKeys(
  prefix: string = DEFAULT_ANNOTATION_PREFIX,
): AnnotationKeys {
  const p = prefix.endsWith("/") ? prefix : `${prefix}/`;
  return {
    subnetKubeManaged: `${p}kube-subnet-manager`,
    backendType: `${p}backend-type`,
    backendData: `${p}backend-data`,
    backendV6Data: `${p}backend-v6-data`,
    publicIP: `${p}public-ip`,
    publicIPv6: `${p}public-ipv6`,
    publicIPOverwrite: `${p}public-ip-overwrite`,
    publicIPv6Overwrite: `${p}public-ipv6-overwrite`,
    nodePublicIP: `${p}node-public-ip`,
    nodePublicIPv6: `${p}node-public-ipv6`,
  };
}

/**
 * The node's pod CIDRs as flannel takes them: the last IPv4 and the last
 * IPv6 of `spec.podCIDRs` (falling back to `spec.podCIDR`); null when none is
 * assigned yet. More than two, or an unparsable one, is an error.
 */
export function podCIDRs(
  node: KubeNode,
): { v4: CIDR | null; v6: CIDR | null } | null {
  const list = node.spec?.podCIDRs?.length
    ? node.spec.podCIDRs
    : node.spec?.podCIDR
    ? [node.spec.podCIDR]
    : [];
  if (list.length === 0) return null;
  if (list.length > 2) {
    throw new RangeError(
      `node ${node.metadata.name} has ${list.length} podCIDRs (${
        list.join(", ")
      }); at most one IPv4 and one IPv6 are supported`,
    );
  }
  let v4: CIDR | null = null;
  let v6: CIDR | null = null;
  for (const text of list) {
    const c = CIDR.tryParse(text);
    if (!c) {
      throw new TypeError(
        `node ${node.metadata.name} has an invalid podCIDR "${text}"`,
      );
    }
    if (c.family === 4) v4 = c.network();
    else v6 = c.network();
  }
  return { v4, v6 };
}

function parseJSON(text: string | undefined): { ok: boolean; value: unknown } {
  if (text === undefined) return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, value: null };
  }
}

/**
 * A remote node's lease, or the reason it is skipped (not managed by a
 * flannel, no pod CIDR, missing or malformed annotations).
 */
export function leaseFromNode(
  node: KubeNode,
  keys: AnnotationKeys,
  families: { v4: boolean; v6: boolean } = { v4: true, v6: false },
): { lease: Lease } | { skip: string } {
  const a = node.metadata.annotations ?? {};
  const name = node.metadata.name;
  if (a[keys.subnetKubeManaged] !== "true") {
    return { skip: `node ${name} has no ${keys.subnetKubeManaged} annotation` };
  }
  let cidrs: ReturnType<typeof podCIDRs>;
  try {
    cidrs = podCIDRs(node);
  } catch (e) {
    return { skip: (e as Error).message };
  }
  if (!cidrs) return { skip: `node ${name} has no podCIDR` };
  const ip = (key: string, over: string, fam: 4 | 6) => {
    const text = a[over] || a[key];
    const v = text === undefined ? null : IP.tryParse(text);
    return v && v.family === fam ? v : null;
  };
  const lease: Lease = {
    node: name,
    subnet: families.v4 ? cidrs.v4 : null,
    ipv6Subnet: families.v6 ? cidrs.v6 : null,
    publicIP: ip(keys.publicIP, keys.publicIPOverwrite, 4),
    publicIPv6: ip(keys.publicIPv6, keys.publicIPv6Overwrite, 6),
    backendType: a[keys.backendType] ?? "",
    backendData: null,
    backendV6Data: null,
  };
  if (families.v4) {
    if (!lease.subnet) return { skip: `node ${name} has no IPv4 podCIDR` };
    if (!lease.publicIP) {
      return {
        skip: `node ${name} has a missing or malformed ${keys.publicIP}: ${
          JSON.stringify(a[keys.publicIP] ?? null)
        }`,
      };
    }
  }
  if (families.v6) {
    if (!lease.ipv6Subnet) return { skip: `node ${name} has no IPv6 podCIDR` };
    if (!lease.publicIPv6) {
      return {
        skip: `node ${name} has a missing or malformed ${keys.publicIPv6}`,
      };
    }
  }
  const d4 = parseJSON(a[keys.backendData]);
  const d6 = parseJSON(a[keys.backendV6Data]);
  if (!d4.ok || !d6.ok) {
    return { skip: `node ${name} has malformed ${keys.backendData} JSON` };
  }
  lease.backendData = d4.value;
  lease.backendV6Data = d6.value;
  return { lease };
}

/** Stable comparison key of a lease (for "changed?" checks). */
export function leaseKey(l: Lease): string {
  return JSON.stringify([
    l.subnet?.toString() ?? null,
    l.ipv6Subnet?.toString() ?? null,
    l.publicIP?.toString() ?? null,
    l.publicIPv6?.toString() ?? null,
    l.backendType,
    l.backendData,
    l.backendV6Data,
  ]);
}

/** vxlan backend-data as flannel writes it: {"VNI":1,"VtepMAC":"..."}. */
export interface VxlanBackendData {
  VNI: number;
  VtepMAC: string;
}

/** Reads vxlan backend-data (keys case-insensitive); null when malformed. */
export function vxlanData(value: unknown): VxlanBackendData | null {
  if (typeof value !== "object" || value === null) return null;
  let vni: unknown, mac: unknown;
  for (const [k, v] of Object.entries(value)) {
    if (k.toLowerCase() === "vni") vni = v;
    if (k.toLowerCase() === "vtepmac") mac = v;
  }
  if (
    typeof vni !== "number" || typeof mac !== "string" ||
    !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)
  ) {
    return null;
  }
  return { VNI: vni, VtepMAC: mac.toLowerCase() };
}
