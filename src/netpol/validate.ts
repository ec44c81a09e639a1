// Validation of NetworkPolicy objects as kube-apiserver does it
// (ValidateNetworkPolicy, ValidateLabelSelector, IPBlock and port checks),
// with field paths in the causes. Untrusted input: every list is bounded.

import { CIDR } from "../net/mod.ts";
import { type FieldCause, NetworkPolicyInvalid } from "./errors.ts";
import type {
  NetworkPolicy,
  NetworkPolicyPeer,
  NetworkPolicyPort,
} from "./types.ts";

/** Most items weft accepts in one list of a policy (rules, peers, ports, excepts). */
export const MAX_LIST = 1000;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const PROTOCOLS = ["TCP", "UDP", "SCTP"];
const OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v)?.slice(0, 80) ?? String(v);

class Causes {
  readonly list: FieldCause[] = [];
  add(field: string, message: string): void {
    if (this.list.length < 50) this.list.push({ field, message });
  }
  invalid(field: string, value: unknown, why: string): void {
    this.add(field, `Invalid value: ${show(value)}: ${why}`);
  }
}

function qualifiedName(c: Causes, path: string, key: unknown): void {
  if (typeof key !== "string") return c.invalid(path, key, "must be a string");
  const slash = key.lastIndexOf("/");
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefix = slash < 0 ? null : key.slice(0, slash);
  if (
    prefix !== null && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))
  ) {
    c.invalid(path, key, "prefix part must be a DNS-1123 subdomain");
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    c.invalid(
      path,
      key,
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)",
    );
  }
}

function labelValue(c: Causes, path: string, v: unknown): void {
  if (typeof v !== "string" || v.length > 63 || !LABEL_VALUE.test(v)) {
    c.invalid(
      path,
      v,
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63)",
    );
  }
}

function list(c: Causes, path: string, v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    c.invalid(path, v, "must be a list");
    return [];
  }
  if (v.length > MAX_LIST) {
    c.add(path, `Too many: ${v.length}: must have at most ${MAX_LIST} items`);
    return [];
  }
  return v;
}

function selector(c: Causes, path: string, v: unknown): void {
  if (v === undefined || v === null) return;
  if (!isObj(v)) return c.invalid(path, v, "must be a label selector");
  const ml = v.matchLabels;
  if (ml !== undefined && ml !== null) {
    if (!isObj(ml)) c.invalid(`${path}.matchLabels`, ml, "must be a map");
    else {
      for (const [k, val] of Object.entries(ml)) {
        qualifiedName(c, `${path}.matchLabels`, k);
        labelValue(c, `${path}.matchLabels`, val);
      }
    }
  }
  list(c, `${path}.matchExpressions`, v.matchExpressions).forEach((e, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    if (!isObj(e)) return c.invalid(p, e, "must be an object");
    qualifiedName(c, `${p}.key`, e.key);
    const values = list(c, `${p}.values`, e.values);
    if (!OPERATORS.includes(e.operator as string)) {
      c.add(
        `${p}.operator`,
        `Unsupported value: ${
          show(e.operator)
        }: supported values: "In", "NotIn", "Exists", "DoesNotExist"`,
      );
    } else if (e.operator === "In" || e.operator === "NotIn") {
      if (values.length === 0) {
        c.add(
          `${p}.values`,
          "Required value: must be specified when `operator` is 'In' or 'NotIn'",
        );
      }
    } else if (values.length > 0) {
      c.add(
        `${p}.values`,
        "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
      );
    }
    values.forEach((x, j) => labelValue(c, `${p}.values[${j}]`, x));
  });
}

/** IANA_SVC_NAME: 1-15 chars, lowercase letters, digits, '-', a letter, no '--'. */
function serviceName(s: string): boolean {
  return s.length >= 1 && s.length <= 15 &&
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s) &&
    /[a-z]/.test(s) && !s.includes("--");
}

function port(c: Causes, path: string, v: unknown): void {
  if (!isObj(v)) return c.invalid(path, v, "must be an object");
  const p = v as NetworkPolicyPort;
  if (p.protocol !== undefined && !PROTOCOLS.includes(p.protocol)) {
    c.add(
      `${path}.protocol`,
      `Unsupported value: ${
        show(p.protocol)
      }: supported values: "TCP", "UDP", "SCTP"`,
    );
  }
  if (typeof p.port === "number") {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
      c.invalid(
        `${path}.port`,
        p.port,
        "must be between 1 and 65535, inclusive",
      );
    }
  } else if (typeof p.port === "string") {
    if (!serviceName(p.port)) {
      c.invalid(
        `${path}.port`,
        p.port,
        "must contain only lowercase alphanumeric characters and '-', at least one letter, at most 15 characters",
      );
    }
  } else if (p.port !== undefined && p.port !== null) {
    c.invalid(`${path}.port`, p.port, "must be a number or a port name");
  }
  if (p.endPort !== undefined && p.endPort !== null) {
    if (typeof p.port !== "number") {
      c.invalid(
        `${path}.endPort`,
        p.endPort,
        "may not be specified when `port` is non-numeric or absent",
      );
    } else if (
      !Number.isInteger(p.endPort) || p.endPort > 65535 || p.endPort < 1
    ) {
      c.invalid(
        `${path}.endPort`,
        p.endPort,
        "must be between 1 and 65535, inclusive",
      );
    } else if (p.endPort < p.port) {
      c.invalid(
        `${path}.endPort`,
        p.endPort,
        "must be greater than or equal to `port`",
      );
    }
  }
}

function ipBlock(c: Causes, path: string, v: unknown): void {
  if (!isObj(v)) return c.invalid(path, v, "must be an object");
  if (typeof v.cidr !== "string" || v.cidr === "") {
    return c.add(`${path}.cidr`, "Required value");
  }
  const cidr = CIDR.tryParse(v.cidr);
  if (!cidr) {
    return c.invalid(
      `${path}.cidr`,
      v.cidr,
      "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
    );
  }
  list(c, `${path}.except`, v.except).forEach((e, i) => {
    const p = `${path}.except[${i}]`;
    const ex = typeof e === "string" ? CIDR.tryParse(e) : null;
    if (!ex) {
      return c.invalid(
        p,
        e,
        "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
      );
    }
    if (!cidr.network().contains(ex) || ex.prefix <= cidr.prefix) {
      c.invalid(p, e, "must be a strict subset of `cidr`");
    }
  });
}

function peer(c: Causes, path: string, v: unknown): void {
  if (!isObj(v)) return c.invalid(path, v, "must be an object");
  const p = v as NetworkPolicyPeer;
  const kinds = [p.podSelector, p.namespaceSelector, p.ipBlock]
    .filter((x) => x !== undefined && x !== null).length;
  if (kinds === 0) {
    c.add(path, "Required value: must specify a peer");
  } else if (p.ipBlock && kinds > 1) {
    c.add(path, "Forbidden: may not specify more than 1 peer type");
  }
  selector(c, `${path}.podSelector`, p.podSelector);
  selector(c, `${path}.namespaceSelector`, p.namespaceSelector);
  if (p.ipBlock) ipBlock(c, `${path}.ipBlock`, p.ipBlock);
}

function rules(
  c: Causes,
  path: string,
  v: unknown,
  peers: "from" | "to",
): void {
  list(c, path, v).forEach((r, i) => {
    const p = `${path}[${i}]`;
    if (!isObj(r)) return c.invalid(p, r, "must be an object");
    list(c, `${p}.ports`, r.ports).forEach((x, j) =>
      port(c, `${p}.ports[${j}]`, x)
    );
    list(c, `${p}.${peers}`, r[peers]).forEach((x, j) =>
      peer(c, `${p}.${peers}[${j}]`, x)
    );
  });
}

/** The problems of `v` as a NetworkPolicy (empty when it is valid). */
export function networkPolicyCauses(v: unknown): FieldCause[] {
  const c = new Causes();
  if (!isObj(v)) {
    c.invalid("", v, "must be an object");
    return c.list;
  }
  const meta = isObj(v.metadata) ? v.metadata : {};
  const name = meta.name;
  if (typeof name !== "string" || name === "") {
    c.add("metadata.name", "Required value: name or generateName is required");
  } else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    c.invalid(
      "metadata.name",
      name,
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
    );
  }
  const ns = meta.namespace;
  if (typeof ns !== "string" || ns === "") {
    c.add("metadata.namespace", "Required value");
  } else if (ns.length > 63 || !DNS1123_LABEL.test(ns)) {
    c.invalid(
      "metadata.namespace",
      ns,
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
    );
  }
  if (!isObj(v.spec)) {
    c.add("spec", "Required value");
    return c.list;
  }
  const spec = v.spec;
  if (!isObj(spec.podSelector)) {
    c.add("spec.podSelector", "Required value");
  } else selector(c, "spec.podSelector", spec.podSelector);
  rules(c, "spec.ingress", spec.ingress, "from");
  rules(c, "spec.egress", spec.egress, "to");
  const types = list(c, "spec.policyTypes", spec.policyTypes);
  if (types.length > 2) {
    c.invalid(
      "spec.policyTypes",
      types,
      "may not specify more than two policyTypes",
    );
  }
  types.forEach((t, i) => {
    if (t !== "Ingress" && t !== "Egress") {
      c.add(
        `spec.policyTypes[${i}]`,
        `Unsupported value: ${show(t)}: supported values: "Ingress", "Egress"`,
      );
    } else if (types.indexOf(t) !== i) {
      c.add(`spec.policyTypes[${i}]`, `Duplicate value: ${show(t)}`);
    }
  });
  return c.list;
}

/** `v` as a NetworkPolicy, or NetworkPolicyInvalid with every cause. */
export function validateNetworkPolicy(v: unknown): NetworkPolicy {
  const causes = networkPolicyCauses(v);
  if (causes.length > 0) {
    const meta = isObj(v) && isObj(v.metadata) ? v.metadata : {};
    throw new NetworkPolicyInvalid(
      `${meta.namespace ?? ""}/${meta.name ?? ""}`,
      causes,
    );
  }
  return v as unknown as NetworkPolicy;
}
