// The flags of `weft server` and `weft agent`, with K3s's names, defaults,
// environment variables and value checks. One table drives the parser, the
// config file, the environment and --help.

import { BACKEND_FLAGS } from "../flannel/backend/names.ts";
import { CIDR, IP } from "../net/mod.ts";
import { parseDatastoreEndpoint } from "../store/endpoint.ts";
import { EGRESS_MODES } from "../tunnel/target.ts";

export type FlagKind = "string" | "bool" | "list" | "int";
export type Scope = "server" | "agent" | "both";

export interface FlagDef {
  name: string;
  kind: FlagKind;
  scope: Scope;
  help: string;
  default?: string | boolean | number | string[];
  /** Environment variable read between the config file and the flag. */
  env?: string;
  /** The value's placeholder in a hand-laid --help (`--nodes N`). */
  arg?: string;
  /** Returns what is wrong with one value, or null. */
  check?: (value: string) => string | null;
}

/** --flannel-backend values: the backend table's (flannel/backend/names.ts). */
export const BACKENDS = BACKEND_FLAGS;
/** --egress-selector-mode values: the tunnel's (tunnel/target.ts). */
export { EGRESS_MODES };
export const CNI_CHAINS = ["weft", "k3s"] as const;

const oneOf = (values: readonly string[]) => (v: string) =>
  values.includes(v) ? null : `must be one of ${values.join(", ")}`;
const cidr = (v: string) =>
  CIDR.tryParse(v) ? null : "is not a CIDR (like 10.42.0.0/16)";
const ip = (v: string) => IP.tryParse(v) ? null : "is not an IP address";
const url = (v: string) => {
  try {
    const u = new URL(v);
    return u.protocol === "https:" ? null : "must be an https:// URL";
  } catch {
    // https://fd77::1:6443: an IPv6 address needs brackets in a URL.
    return /^https:\/\/[0-9a-f]*:[0-9a-f]*:/i.test(v)
      ? "is not a URL: put an IPv6 address in brackets, like https://[fd77::1]:6443"
      : "is not a URL (like https://10.0.0.1:6443)";
  }
};
const port = (v: string) => {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 && n < 65536
    ? null
    : "is not a port number (1-65535)";
};
const fileMode = (v: string) =>
  /^0?[0-7]{3}$/.test(v) ? null : "is not an octal file mode (like 0600)";
const datastore = (v: string) => {
  try {
    parseDatastoreEndpoint(v, "");
    return null;
  } catch (e) {
    return `is not a datastore endpoint: ${(e as Error).message}`;
  }
};
const nodeName = (v: string) =>
  /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(v)
    ? null
    : "is not a valid node name (lowercase letters, digits, '-' and '.')";

const FLAGS: FlagDef[] = [
  {
    name: "config",
    kind: "string",
    scope: "both",
    env: "WEFT_CONFIG_FILE",
    default: "/etc/weft/config.yaml",
    help: "YAML config file; its keys are flag names",
  },
  {
    name: "data-dir",
    kind: "string",
    scope: "both",
    env: "WEFT_DATA_DIR",
    default: "/var/lib/weft",
    help: "folder for state",
  },
  {
    name: "node-name",
    kind: "string",
    scope: "both",
    env: "WEFT_NODE_NAME",
    help: "node name (default: the hostname)",
    check: nodeName,
  },
  {
    name: "node-ip",
    kind: "list",
    scope: "both",
    help: "IPv4/IPv6 address to advertise for the node",
    check: ip,
  },
  {
    name: "node-external-ip",
    kind: "list",
    scope: "both",
    help: "external IPv4/IPv6 address to advertise for the node",
    check: ip,
  },
  {
    name: "flannel-iface",
    kind: "string",
    scope: "both",
    help: "interface (name or IP) for flannel traffic",
  },
  {
    name: "flannel-conf",
    kind: "string",
    scope: "both",
    help: "net-conf.json to use instead of the generated one",
  },
  {
    name: "flannel-cni-conf",
    kind: "string",
    scope: "both",
    help: "CNI conflist to install instead of the generated one",
  },
  {
    name: "cni-chain",
    kind: "string",
    scope: "both",
    env: "WEFT_CNI_CHAIN",
    default: "weft",
    help:
      "generated CNI conflist: weft (flannel applies portmap and bandwidth, one exec per pod) or k3s (flannel, portmap, bandwidth)",
    check: oneOf(CNI_CHAINS),
  },
  {
    name: "server",
    kind: "string",
    scope: "agent",
    env: "WEFT_URL",
    help: "server to join (https://host:6443)",
    check: url,
  },
  {
    name: "token",
    kind: "string",
    scope: "both",
    env: "WEFT_TOKEN",
    help: "join token (agent) or shared secret (server)",
  },
  {
    name: "token-file",
    kind: "string",
    scope: "both",
    env: "WEFT_TOKEN_FILE",
    help: "file holding the token",
  },
  {
    name: "cluster-cidr",
    kind: "list",
    scope: "server",
    default: ["10.42.0.0/16"],
    help: "pod network CIDRs (IPv4, IPv6 or both)",
    check: cidr,
  },
  {
    name: "service-cidr",
    kind: "list",
    scope: "server",
    default: ["10.43.0.0/16"],
    help: "service network CIDRs",
    check: cidr,
  },
  {
    name: "cluster-dns",
    kind: "string",
    scope: "server",
    default: "10.43.0.10",
    help: "cluster DNS service IP",
    check: ip,
  },
  {
    name: "cluster-domain",
    kind: "string",
    scope: "server",
    default: "cluster.local",
    help: "cluster domain",
  },
  {
    name: "flannel-backend",
    kind: "string",
    scope: "server",
    default: "vxlan",
    help: `flannel backend: ${BACKENDS.join(", ")}`,
    check: oneOf(BACKENDS),
  },
  {
    name: "flannel-ipv6-masq",
    kind: "bool",
    scope: "server",
    default: false,
    help: "masquerade IPv6 pod traffic",
  },
  {
    name: "flannel-external-ip",
    kind: "bool",
    scope: "server",
    default: false,
    help: "use node external IPs for flannel traffic",
  },
  {
    name: "egress-selector-mode",
    kind: "string",
    scope: "server",
    default: "agent",
    help: `egress selector mode: ${EGRESS_MODES.join(", ")}`,
    check: oneOf(EGRESS_MODES),
  },
  {
    name: "disable-network-policy",
    kind: "bool",
    scope: "server",
    default: false,
    help: "turn off the network policy controller (and remove its nft table)",
  },
  {
    name: "disable-agent",
    kind: "bool",
    scope: "server",
    default: false,
    help: "run the control plane only, no local agent",
  },
  {
    name: "write-kubeconfig",
    kind: "string",
    scope: "server",
    env: "WEFT_KUBECONFIG_OUTPUT",
    default: "/etc/weft/weft.yaml",
    help: "where to write the admin kubeconfig",
  },
  {
    name: "write-kubeconfig-mode",
    kind: "string",
    scope: "server",
    env: "WEFT_KUBECONFIG_MODE",
    default: "0600",
    help: "file mode of the admin kubeconfig",
    check: fileMode,
  },
  {
    name: "tls-san",
    kind: "list",
    scope: "server",
    help: "extra host name or IP in the serving certificate",
  },
  {
    name: "datastore-endpoint",
    kind: "string",
    scope: "server",
    env: "WEFT_DATASTORE_ENDPOINT",
    help:
      "datastore: sqlite://<path> (default: SQLite under <data-dir>/server/db) or etcd URLs (https://etcd-1:2379,https://etcd-2:2379)",
    check: datastore,
  },
  {
    name: "datastore-cafile",
    kind: "string",
    scope: "server",
    env: "WEFT_DATASTORE_CAFILE",
    help: "CA file that signed the etcd members' certificates",
  },
  {
    name: "datastore-certfile",
    kind: "string",
    scope: "server",
    env: "WEFT_DATASTORE_CERTFILE",
    help: "client certificate file for etcd",
  },
  {
    name: "datastore-keyfile",
    kind: "string",
    scope: "server",
    env: "WEFT_DATASTORE_KEYFILE",
    help: "client key file for etcd",
  },
  {
    name: "https-listen-port",
    kind: "int",
    scope: "server",
    default: 6443,
    help: "API server port",
    check: port,
  },
  {
    name: "bind-address",
    kind: "string",
    scope: "server",
    default: "0.0.0.0",
    help: "API server bind address",
    check: ip,
  },
  {
    name: "advertise-address",
    kind: "string",
    scope: "server",
    help:
      "address agents reach this server's API on (default: node-external-ip, else node-ip)",
    check: ip,
  },
];

/** A flag's default from the table, whichever command asks. */
export function flagDefault(name: string): FlagDef["default"] {
  return FLAGS.find((f) => f.name === name)?.default;
}

/** The flags a command accepts. */
export function flagsFor(command: "server" | "agent"): FlagDef[] {
  return FLAGS.filter((f) => f.scope === "both" || f.scope === command);
}
